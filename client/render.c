/* render.c: showing session updates as text or JSON lines (see render.h). */
#include "config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render.h"
#include "xmalloc.h"

#define RENDER_DIM "\033[2m"
#define RENDER_RESET "\033[0m"

void
render_init(struct render *r, enum render_format format, int show_user, FILE *out, FILE *err)
{
	memset(r, 0, sizeof *r);
	r->format = format;
	r->show_user = show_user;
	r->out = out;
	r->err = err;
	r->out_tty = isatty(fileno(out));
	r->err_tty = isatty(fileno(err));
	r->out_bol = r->err_bol = 1;
	r->last = r->speaker = RENDER_NONE;
	r->tools = json_object();
}

void
render_clear(struct render *r)
{
	json_decref(r->tools);
	r->tools = NULL;
	free(r->final_text);
	r->final_text = NULL;
	r->final_len = 0;
}

/* Write text to out, quoting each line with "> " when asked. */
static void
render_out_text(struct render *r, const char *text, int quote)
{
	if (text[0] == '\0')
		return;
	for (const char *p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t n = nl != NULL ? (size_t)(nl - p) + 1 : strlen(p);
		if (quote && r->out_bol)
			fputs("> ", r->out);
		fwrite(p, 1, n, r->out);
		r->out_bol = p[n - 1] == '\n';
		p += n;
	}
	r->out_used = 1;
	fflush(r->out);
}

static void
render_out_eol(struct render *r)
{
	if (!r->out_bol) {
		fputc('\n', r->out);
		r->out_bol = 1;
		fflush(r->out);
	}
}

/* End an open thought line on the terminal. */
static void
render_err_eol(struct render *r)
{
	if (!r->err_bol) {
		fputc('\n', r->err);
		r->err_bol = 1;
	}
}

void
render_break(struct render *r)
{
	if (r->format != RENDER_TEXT)
		return;
	render_err_eol(r);
	if (r->out_tty && r->err_tty)
		render_out_eol(r);
	fflush(r->err);
	r->last = RENDER_NONE;
}

/* A whole line for stderr: keep it apart from text on the same screen. */
static void
render_err_line(struct render *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
render_err_line(struct render *r, const char *fmt, ...)
{
	render_break(r);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(r->err, fmt, ap);
	va_end(ap);
	fputc('\n', r->err);
	fflush(r->err);
	r->last = RENDER_NONE;
}

/* What a content block shows as: its text, or a placeholder naming it. Malloc'd. */
static char *
render_content(const json_t *content)
{
	const char *type = json_string_value(json_object_get(content, "type"));
	if (type == NULL)
		return xstrdup("");
	if (strcmp(type, "text") == 0) {
		const char *text = json_string_value(json_object_get(content, "text"));
		return xstrdup(text != NULL ? text : "");
	}
	const char *uri = json_string_value(json_object_get(content, "uri"));
	if (uri == NULL)
		uri = json_string_value(json_object_get(json_object_get(content, "resource"), "uri"));
	if (uri != NULL)
		return xasprintf("[%s: %s]", type, uri);
	return xasprintf("[%s]", type);
}

/* In attach, a blank line goes between the user's messages and the agent's. */
static void
render_switch(struct render *r, enum render_last now)
{
	if (r->last == RENDER_THOUGHT)
		render_err_eol(r);
	if (r->show_user && r->out_used && now != r->speaker) {
		render_out_eol(r);
		fputc('\n', r->out);
	}
	r->speaker = now;
	r->last = now;
}

static void
render_message(struct render *r, const json_t *update, enum render_last kind)
{
	char *text = render_content(json_object_get(update, "content"));
	if (kind == RENDER_THOUGHT) {
		if (r->err_tty && text[0] != '\0') {
			if (r->last != RENDER_THOUGHT && r->out_tty)
				render_out_eol(r);
			r->last = RENDER_THOUGHT;
			fprintf(r->err, RENDER_DIM "%s" RENDER_RESET, text);
			r->err_bol = text[strlen(text) - 1] == '\n';
			fflush(r->err);
		}
	} else if (text[0] != '\0') {
		render_switch(r, kind);
		render_out_text(r, text, kind == RENDER_USER);
	}
	free(text);
}

/* The remembered state of a tool call, created on first sight. Borrowed. */
static json_t *
render_tool(struct render *r, const json_t *update)
{
	const char *id = json_string_value(json_object_get(update, "toolCallId"));
	if (id == NULL)
		id = "";
	json_t *tool = json_object_get(r->tools, id);
	if (tool == NULL) {
		tool = json_pack("{s:s, s:s}", "title", id, "status", "");
		json_object_set_new(r->tools, id, tool);
	}
	const char *title = json_string_value(json_object_get(update, "title"));
	if (title != NULL && title[0] != '\0')
		json_object_set_new(tool, "title", json_string(title));
	return tool;
}

#define RENDER_OUTPUT_LINES 8 /* of a tool's output shown in text */

/*
 * A finished call's output under its line, indented, at most RENDER_OUTPUT_LINES
 * lines and then how many more; `skip` (may be NULL) is text already shown.
 */
static void
render_tool_output(struct render *r, const json_t *update, const char *skip)
{
	size_t i;
	json_t *block;
	json_array_foreach(json_object_get(update, "content"), i, block) {
		const char *text = json_string_value(json_object_get(json_object_get(block,
							"content"), "text"));
		if (text == NULL || text[0] == '\0' || (skip != NULL && strcmp(text, skip) == 0))
			continue;
		int shown = 0, more = 0;
		for (const char *p = text; *p != '\0';) {
			const char *nl = strchr(p, '\n');
			size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
			if (shown < RENDER_OUTPUT_LINES)
				render_err_line(r, "    %.*s", (int)len, p);
			else
				more++;
			shown++;
			p += len + (nl != NULL);
		}
		if (more > 0)
			render_err_line(r, "    … %d more line%s", more, more == 1 ? "" : "s");
	}
}

static void
render_tool_call(struct render *r, const json_t *update, int is_new)
{
	json_t *tool = render_tool(r, update);
	const char *title = json_string_value(json_object_get(tool, "title"));
	const char *status = json_string_value(json_object_get(update, "status"));
	const char *old = json_string_value(json_object_get(tool, "status"));
	if (is_new) {
		render_err_line(r, "• %s", title);
	} else if (status != NULL && strcmp(status, old) != 0) {
		/* A failed call says why (a refusal's reason, the tool's error). */
		const char *why = strcmp(status, "failed") == 0 ?
			json_string_value(json_object_get(json_object_get(json_array_get(
				json_object_get(update, "content"), 0), "content"), "text")) : NULL;
		int one_line = why != NULL && why[0] != '\0' && strchr(why, '\n') == NULL;
		if (one_line)
			render_err_line(r, "• %s: %s: %s", title, status, why);
		else
			render_err_line(r, "• %s: %s", title, status);
		if (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0)
			render_tool_output(r, update, one_line ? why : NULL);
	}
	if (status != NULL)
		json_object_set_new(tool, "status", json_string(status));
}

static void
render_plan(struct render *r, const json_t *update)
{
	render_err_line(r, "• plan");
	size_t i;
	json_t *entry;
	json_array_foreach(json_object_get(update, "entries"), i, entry) {
		const char *content = json_string_value(json_object_get(entry, "content"));
		const char *status = json_string_value(json_object_get(entry, "status"));
		render_err_line(r, "  - %s (%s)", content != NULL ? content : "",
				status != NULL ? status : "pending");
	}
}

/* Count what the turn does, and keep the text of its last answer. */
static void
render_count(struct render *r, const json_t *update, const char *tag)
{
	if (strcmp(tag, "usage_update") == 0) {
		r->model_calls++;
	} else if (strcmp(tag, "tool_call") == 0) {
		const char *id = json_string_value(json_object_get(update, "toolCallId"));
		if (id == NULL || json_object_get(r->tools, id) == NULL)
			r->tool_calls++;
		r->final_len = 0; /* the answer is what comes after the last call */
	} else if (strcmp(tag, "agent_message_chunk") == 0) {
		const json_t *content = json_object_get(update, "content");
		const char *text = json_string_value(json_object_get(content, "text"));
		if (text == NULL)
			return;
		size_t n = strlen(text);
		r->final_text = xrealloc(r->final_text, r->final_len + n + 1);
		memcpy(r->final_text + r->final_len, text, n + 1);
		r->final_len += n;
	}
}

void
render_update(struct render *r, const json_t *params)
{
	const json_t *update = json_object_get(params, "update");
	const char *tag = json_string_value(json_object_get(update, "sessionUpdate"));
	if (tag != NULL)
		render_count(r, update, tag);
	if (r->format == RENDER_JSON) {
		char *line = json_dumps(params, JSON_COMPACT);
		if (line != NULL) {
			fprintf(r->out, "%s\n", line);
			fflush(r->out);
			free(line);
		}
		/* Tool titles still name the tool in permission messages. */
		if (tag != NULL && strncmp(tag, "tool_call", 9) == 0)
			render_tool(r, update);
		return;
	}
	if (tag == NULL)
		return;
	if (strcmp(tag, "agent_message_chunk") == 0)
		render_message(r, update, RENDER_AGENT);
	else if (strcmp(tag, "agent_thought_chunk") == 0)
		render_message(r, update, RENDER_THOUGHT);
	else if (strcmp(tag, "user_message_chunk") == 0 && r->show_user)
		render_message(r, update, RENDER_USER);
	else if (strcmp(tag, "tool_call") == 0)
		render_tool_call(r, update, 1);
	else if (strcmp(tag, "tool_call_update") == 0)
		render_tool_call(r, update, 0);
	else if (strcmp(tag, "plan") == 0)
		render_plan(r, update);
}

void
render_finish(struct render *r)
{
	if (r->format != RENDER_TEXT)
		return;
	render_err_eol(r);
	fflush(r->err);
	render_out_eol(r);
}

void
render_stop(struct render *r, const char *stop_reason)
{
	if (r->format == RENDER_JSON) {
		json_t *o = json_pack("{s:s?}", "stopReason", stop_reason);
		char *line = json_dumps(o, JSON_COMPACT);
		fprintf(r->out, "%s\n", line);
		fflush(r->out);
		free(line);
		json_decref(o);
		return;
	}
	render_finish(r);
}
