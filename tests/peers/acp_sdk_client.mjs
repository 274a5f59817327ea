// acp_sdk_client.mjs HEARTH CONFIG CWD: drive `hearth acp` with the official ACP SDK
// (@agentclientprotocol/sdk, as a client) through initialize, session/new,
// session/prompt, a permission request, cancel, session/load replay and
// session/list. Prints "ok N - what" lines and exits non-zero on the first failure.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { Readable, Writable } from "node:stream";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const sdk = await import(pathToFileURL(join(here,
	"node_modules/@agentclientprotocol/sdk/dist/v1/stable/acp.js")).href);
const { client, ndJsonStream, methods } = sdk;
const [hearth, config, cwd] = process.argv.slice(2);

let n = 0;
function check(what, cond, detail) {
	n++;
	if (!cond) {
		console.log(`not ok ${n} - ${what}${detail !== undefined ? ": " + JSON.stringify(detail) : ""}`);
		process.exit(1);
	}
	console.log(`ok ${n} - ${what}`);
}

function connect(onUpdate, onPermission) {
	const child = spawn(hearth, ["--config", config, "acp"], { stdio: ["pipe", "pipe", "inherit"] });
	const stream = ndJsonStream(Writable.toWeb(child.stdin), Readable.toWeb(child.stdout));
	const app = client({ name: "hearth-sdk-test" })
		.onNotification(methods.client.session.update, ({ params }) => onUpdate(params))
		.onRequest(methods.client.session.requestPermission, ({ params }) => onPermission(params));
	return { app, stream, child };
}

const updates = [];
let permissions = [];
const first = connect((u) => updates.push(u), (p) => {
	permissions.push(p);
	const allow = p.options.find((o) => o.kind === "allow_once");
	return { outcome: { outcome: "selected", optionId: allow.optionId } };
});

let sessionId;
await first.app.connectWith(first.stream, async (ctx) => {
	const init = await ctx.request(methods.agent.initialize,
		{ protocolVersion: 1, clientCapabilities: { fs: { readTextFile: false, writeTextFile: false } } });
	check("initialize answers protocol version 1", init.protocolVersion === 1, init);
	check("initialize says it can load sessions", init.agentCapabilities?.loadSession === true);

	const s = await ctx.request(methods.agent.session.new, { cwd, mcpServers: [] });
	sessionId = s.sessionId;
	check("session/new gives a session id", /^ses_/.test(sessionId), s);
	check("the model is a config option", s.configOptions?.[0]?.category === "model", s.configOptions);

	// Turn 1: text streamed, then end_turn.
	const r1 = await ctx.request(methods.agent.session.prompt,
		{ sessionId, prompt: [{ type: "text", text: "hello" }] });
	check("prompt ends with end_turn", r1.stopReason === "end_turn", r1);
	const text = updates.filter((u) => u.update.sessionUpdate === "agent_message_chunk")
		.map((u) => u.update.content.text).join("");
	check("the reply streamed as agent_message_chunk", text === "Hello from the script.", text);
	// Seq 1 is the echo of this client's own prompt, which goes to the other
	// followers only: this client's updates are numbered from 2, without a gap.
	check("every update carries its sequence number",
		updates.length > 0 && updates.every((u, i) => u._meta?.hearth?.seq === i + 2),
		updates.map((u) => u._meta));

	// Turn 2: a tool that asks permission; the SDK client allows it once.
	const r2 = await ctx.request(methods.agent.session.prompt,
		{ sessionId, prompt: [{ type: "text", text: "use the tool" }] });
	check("the permission request reached the client", permissions.length === 1, permissions);
	check("it offers the four option kinds",
		JSON.stringify(permissions[0].options.map((o) => o.kind).sort()) ===
		JSON.stringify(["allow_always", "allow_once", "reject_always", "reject_once"]));
	const done = updates.find((u) => u.update.sessionUpdate === "tool_call_update" &&
		u.update.status === "completed");
	check("the tool ran after permission", done?.update?.toolCallId === "perm1", done);
	check("turn 2 ends with end_turn", r2.stopReason === "end_turn", r2);

	// Turn 3: the model hangs; session/cancel ends it with "cancelled".
	const p3 = ctx.request(methods.agent.session.prompt,
		{ sessionId, prompt: [{ type: "text", text: "take forever" }] });
	await new Promise((resolve) => {
		const tick = setInterval(() => {
			if (updates.some((u) => u.update.sessionUpdate === "agent_message_chunk" &&
					u.update.content.text === "Working...")) {
				clearInterval(tick);
				resolve();
			}
		}, 10);
	});
	await ctx.notify(methods.agent.session.cancel, { sessionId });
	const r3 = await p3;
	check("cancel ends the turn with cancelled", r3.stopReason === "cancelled", r3);

	const list = await ctx.request(methods.agent.session.list, { cwd });
	check("session/list has the session", list.sessions.some((x) => x.sessionId === sessionId), list);
});
first.child.stdin.end();

// A second client loads the session: the whole conversation is replayed.
const replayed = [];
const second = connect((u) => replayed.push(u), () => ({ outcome: { outcome: "cancelled" } }));
await second.app.connectWith(second.stream, async (ctx) => {
	await ctx.request(methods.agent.initialize, { protocolVersion: 1, clientCapabilities: {} });
	await ctx.request(methods.agent.session.load, { sessionId, cwd, mcpServers: [] });
	// The replay is what the first client saw plus the echoes of its own three
	// prompts, which were not sent back to it live.
	const others = replayed.filter((u) => u.update.sessionUpdate !== "user_message_chunk");
	check("session/load replays every update", replayed.length === updates.length + 3 &&
		replayed.every((u, i) => u._meta?.hearth?.seq === i + 1),
		[replayed.length, updates.length]);
	check("the replay is the same updates",
		JSON.stringify(others.map((u) => u.update)) === JSON.stringify(updates.map((u) => u.update)));
	const users = replayed.filter((u) => u.update.sessionUpdate === "user_message_chunk")
		.map((u) => u.update.content.text);
	check("the replay has the user's prompts", JSON.stringify(users) ===
		JSON.stringify(["hello", "use the tool", "take forever"]), users);
});
second.child.stdin.end();
console.log(`1..${n}`);
console.log(`${n} passed, 0 failed`);
