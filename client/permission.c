/* permission.c: permission questions on the terminal (see permission.h). */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "permission.h"
#include "sigint.h"

static const struct {
	char key;
	const char *kind;
	const char *label;
} permission_choices[] = {
	{ 'y', "allow_once", "[y]es once" },
	{ 'a', "allow_always", "[a]lways" },
	{ 'n', "reject_once", "[n]o" },
	{ 'r', "reject_always", "[r]eject always" },
};
#define PERMISSION_N_CHOICES (sizeof permission_choices / sizeof permission_choices[0])

const char *
permission_option(const json_t *params, const char *kind)
{
	size_t i;
	json_t *opt;
	json_array_foreach(json_object_get(params, "options"), i, opt) {
		const char *k = json_string_value(json_object_get(opt, "kind"));
		const char *id = json_string_value(json_object_get(opt, "optionId"));
		if (k != NULL && id != NULL && strcmp(k, kind) == 0)
			return id;
	}
	return NULL;
}

json_t *
permission_outcome(const char *option_id)
{
	if (option_id == NULL)
		return json_pack("{s:{s:s}}", "outcome", "outcome", "cancelled");
	return json_pack("{s:{s:s, s:s}}", "outcome", "outcome", "selected", "optionId", option_id);
}

/* One line from stdin into buf (without the newline). 0, or -1 on SIGINT or EOF. */
static int
permission_read_line(char *buf, size_t size)
{
	size_t n = 0;
	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		if (sigint_poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				return -1;
			continue;
		}
		char ch;
		ssize_t r = read(STDIN_FILENO, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (ch == '\n')
			break;
		if (n + 1 < size)
			buf[n++] = ch;
	}
	buf[n] = '\0';
	return 0;
}

const char *
permission_ask(const json_t *params, const char *title)
{
	for (;;) {
		fprintf(stderr, "hearth: allow %s?", title);
		const char *sep = " ";
		for (size_t i = 0; i < PERMISSION_N_CHOICES; i++) {
			if (permission_option(params, permission_choices[i].kind) == NULL)
				continue;
			fprintf(stderr, "%s%s", sep, permission_choices[i].label);
			sep = " / ";
		}
		fputs(": ", stderr);
		fflush(stderr);

		char line[64];
		if (permission_read_line(line, sizeof line) != 0) {
			fputc('\n', stderr);
			return NULL;
		}
		const char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		for (size_t i = 0; i < PERMISSION_N_CHOICES; i++) {
			if ((*p | 0x20) != permission_choices[i].key)
				continue;
			const char *id = permission_option(params, permission_choices[i].kind);
			if (id != NULL)
				return id;
		}
	}
}
