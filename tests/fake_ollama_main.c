/*
 * fake_ollama_main.c: the fake Ollama server as a program, for end-to-end tests
 * of the real daemon (tests/fake_ollama.h has the reply format).
 *
 *     fake-ollama [-s SEED] [-w MAX_WRITE] SCRIPT PORTFILE [LOGFILE]
 *
 * SCRIPT is a JSON file: an array of replies (each an array of steps), or an
 * object {"replies": [...], "models": ["name", ...]} (the pulled models: listed
 * by /api/tags, and the only ones /api/chat accepts). The server listens on
 * 127.0.0.1 on a free port, writes the port number and a newline to PORTFILE
 * (through a rename), appends each request to LOGFILE as one JSON line {method,
 * target, headers, body}, and serves until SIGTERM or SIGINT; point the daemon
 * at it with OLLAMA_HOST=127.0.0.1:PORT. -w/-s set how replies are cut (default 7
 * and 1). Exit status: 0 after a signal, 2 on a bad command line or script, 1
 * when it cannot listen or write a file.
 *
 * Run with no arguments (as `make check` does) it checks itself, as
 * fake-anthropic does.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fake_ollama.h"

static void
usage(void)
{
	fprintf(stderr, "usage: fake-ollama [-s SEED] [-w MAX_WRITE] SCRIPT PORTFILE [LOGFILE]\n");
	exit(2);
}

static int
write_port(const char *path, int port)
{
	size_t n = strlen(path) + 8;
	char *tmp = malloc(n);
	if (tmp == NULL)
		return -1;
	snprintf(tmp, n, "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	int rc = -1;
	if (f != NULL) {
		int ok = fprintf(f, "%d\n", port) > 0;
		if (fclose(f) == 0 && ok && rename(tmp, path) == 0)
			rc = 0;
	}
	if (rc != 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

/* ---------------------------------------------------------- self-check -- */

#define CHECK(cond) \
	do { \
		if (!(cond)) { \
			fprintf(stderr, "fake-ollama self-check: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond); \
			return 1; \
		} \
	} while (0)

static const char selfcheck_script[] =
	"{\"replies\":[[{\"type\":\"text\",\"text\":\"Hi\"},{\"type\":\"done\","
	"\"prompt_eval_count\":25,\"eval_count\":2}]],\"models\":[\"m\"]}";

static const char selfcheck_ndjson[] =
	"{\"model\":\"llama3.2\",\"created_at\":\"2025-07-07T20:22:19.184789Z\",\"message\":"
	"{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n"
	"{\"model\":\"llama3.2\",\"created_at\":\"2025-07-07T20:22:19.184790Z\",\"message\":"
	"{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\","
	"\"total_duration\":182242375,\"load_duration\":41295167,\"prompt_eval_count\":25,"
	"\"prompt_eval_duration\":24573166,\"eval_count\":2,\"eval_duration\":115959084}\n";

static int
selfcheck_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	int ok = fputs(text, f) >= 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* The whole file, malloc'd, or NULL. */
static char *
selfcheck_read(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return NULL;
	char *buf = calloc(1, 65536);
	size_t n = buf != NULL ? fread(buf, 1, 65535, f) : 0;
	(void)n;
	fclose(f);
	return buf;
}

static pid_t
selfcheck_spawn(const char *script, const char *port, const char *log)
{
	pid_t pid = fork();
	if (pid == 0) {
		execl("/proc/self/exe", "fake-ollama", "-w", "1", "-s", "3", script, port, log,
		      (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The body of a chunked response (from its head's end), de-chunked; malloc'd. */
static char *
selfcheck_dechunk(const char *p)
{
	size_t cap = strlen(p) + 1, n = 0;
	char *out = calloc(1, cap);
	for (;;) {
		char *end;
		unsigned long k = strtoul(p, &end, 16);
		if (end == p || strncmp(end, "\r\n", 2) != 0)
			break;
		p = end + 2;
		if (k == 0)
			break;
		memcpy(out + n, p, k);
		n += k;
		p += k + 2;
	}
	return out;
}

static int
selfcheck(void)
{
	char dir[] = "/tmp/fake-ollama-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char script[64], port_path[64], log_path[64], bad[64];
	snprintf(script, sizeof script, "%s/script.json", dir);
	snprintf(port_path, sizeof port_path, "%s/port", dir);
	snprintf(log_path, sizeof log_path, "%s/log", dir);
	snprintf(bad, sizeof bad, "%s/bad.json", dir);
	CHECK(selfcheck_file(script, selfcheck_script) == 0);
	CHECK(selfcheck_file(bad, "[[{\"type\":\"nonsense\"}]]") == 0);

	pid_t pid = selfcheck_spawn(script, port_path, log_path);
	CHECK(pid > 0);
	char *port_s = NULL;
	for (int i = 0; i < 1000 && port_s == NULL; i++) {
		port_s = selfcheck_read(port_path);
		if (port_s == NULL)
			usleep(10000);
	}
	CHECK(port_s != NULL);
	int port = atoi(port_s);
	free(port_s);
	CHECK(port > 0);

	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0);
	static const char req[] = "POST /api/chat HTTP/1.1\r\nHost: x\r\n"
		"content-type: application/json\r\n"
		"Content-Length: 27\r\n\r\n{\"model\":\"m\",\"messages\":[]}";
	CHECK(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	char *resp = calloc(1, 65536);
	size_t n = 0;
	while (n < 65535) {
		ssize_t got = read(fd, resp + n, 65535 - n);
		if (got <= 0)
			break;
		n += (size_t)got;
		if (n >= 7 && strcmp(resp + n - 7, "\r\n0\r\n\r\n") == 0)
			break;
	}
	close(fd);
	CHECK(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0);
	char *body = strstr(resp, "\r\n\r\n");
	CHECK(body != NULL);
	char *nd = selfcheck_dechunk(body + 4);
	CHECK(strcmp(nd, selfcheck_ndjson) == 0);
	free(nd);
	free(resp);

	int status;
	CHECK(kill(pid, SIGTERM) == 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	char *log = selfcheck_read(log_path);
	CHECK(log != NULL);
	json_t *line = json_loads(log, JSON_DISABLE_EOF_CHECK, NULL);
	CHECK(line != NULL);
	CHECK(strcmp(json_string_value(json_object_get(line, "method")), "POST") == 0);
	CHECK(strcmp(json_string_value(json_object_get(line, "target")), "/api/chat") == 0);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(line, "body"), "model")),
		     "m") == 0);
	CHECK(strchr(log, '\n') == log + strlen(log) - 1);
	json_decref(line);
	free(log);

	/* A bad script is refused before anything listens. */
	pid = selfcheck_spawn(bad, port_path, log_path);
	CHECK(pid > 0);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 2);

	unlink(script);
	unlink(bad);
	unlink(port_path);
	unlink(log_path);
	rmdir(dir);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 1)
		return selfcheck();

	unsigned long seed = 1, max_write = 7;
	int opt;
	while ((opt = getopt(argc, argv, "s:w:")) != -1) {
		char *end;
		switch (opt) {
		case 's':
			seed = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0')
				usage();
			break;
		case 'w':
			max_write = strtoul(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0')
				usage();
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 2 || argc - optind > 3)
		usage();
	const char *script_path = argv[optind], *port_path = argv[optind + 1];
	const char *log_path = argc - optind == 3 ? argv[optind + 2] : NULL;

	json_error_t je;
	json_t *script = json_load_file(script_path, 0, &je);
	if (script == NULL) {
		fprintf(stderr, "fake-ollama: %s:%d:%d: %s\n", script_path, je.line, je.column,
			je.text);
		return 2;
	}
	const json_t *replies = json_is_array(script) ? script : json_object_get(script, "replies");
	if (!json_is_array(replies)) {
		fprintf(stderr, "fake-ollama: %s: expected an array of replies or an object "
			"with \"replies\"\n", script_path);
		json_decref(script);
		return 2;
	}

	/* Signals are taken with sigwait: block them before any thread starts. */
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct fake_ollama *fo = fake_ollama_start();
	if (fo == NULL) {
		fprintf(stderr, "fake-ollama: cannot listen on 127.0.0.1\n");
		json_decref(script);
		return 1;
	}
	fake_ollama_set_chunking(fo, max_write, (unsigned)seed);
	if (json_is_object(script) && json_object_get(script, "models") != NULL)
		fake_ollama_set_models(fo, json_object_get(script, "models"));
	size_t i;
	json_t *reply;
	json_array_foreach(replies, i, reply) {
		char *error = NULL;
		if (fake_ollama_push(fo, reply, &error) != 0) {
			fprintf(stderr, "fake-ollama: %s: reply %zu: %s\n", script_path, i, error);
			free(error);
			fake_ollama_free(fo);
			json_decref(script);
			return 2;
		}
	}
	json_decref(script);

	FILE *log = NULL;
	if (log_path != NULL) {
		log = fopen(log_path, "a");
		if (log == NULL) {
			perror(log_path);
			fake_ollama_free(fo);
			return 1;
		}
		fake_ollama_set_log(fo, log);
	}
	if (write_port(port_path, fake_ollama_port(fo)) != 0) {
		perror(port_path);
		fake_ollama_free(fo);
		if (log != NULL)
			fclose(log);
		return 1;
	}

	int sig;
	sigwait(&set, &sig);
	fake_ollama_set_log(fo, NULL);
	fake_ollama_free(fo);
	if (log != NULL)
		fclose(log);
	return 0;
}
