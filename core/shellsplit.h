/*
 * shellsplit.h: split a POSIX/bash command line into its simple commands, so that
 * a permission rule is matched against each command that will run, not against the
 * whole line ("git status; touch X" is two commands).
 *
 * What it reads: the operators ; & && || | |& and newlines; subshells ( ... );
 * command substitution $( ... ) and `...`; process substitution <( ... ) >( ... );
 * redirections (with an fd number, &>, >&N, <>, >|, <<<); here-documents (<< and
 * <<-, quoted or not); single, double and $'...' quotes; backslash escapes and
 * line continuations; comments; $name and ${name} expansions.
 *
 * What it does not read, and so calls uncertain (the caller must then ask): the
 * reserved words (if, for, while, case, function, {, }, !, [[ ...), arithmetic
 * $(( )) and (( )), ${...} with an operator inside, a command name that comes from
 * an expansion, unterminated quotes or substitutions, a here-document without its
 * end line, a NUL byte, more than SHELLSPLIT_MAX_CMDS commands, nesting deeper than
 * SHELLSPLIT_MAX_DEPTH, input longer than SHELLSPLIT_MAX_LEN.
 *
 * The entry is self-contained (no libuv, no globals, no logging) so a fuzzer can
 * call it on any bytes: shellsplit_parse() then shellsplit_free().
 */
#ifndef HEARTH_SHELLSPLIT_H
#define HEARTH_SHELLSPLIT_H

#include <stddef.h>

#define SHELLSPLIT_MAX_LEN (64 * 1024)
#define SHELLSPLIT_MAX_CMDS 256
#define SHELLSPLIT_MAX_DEPTH 16

enum shellsplit_flags {
	SHELLSPLIT_IN_SUBST = 1 << 0, /* runs inside a $( ), ` `, <( ) or >( ) */
	SHELLSPLIT_WRITES = 1 << 1,   /* redirects output to a file (not /dev/null, not >&N) */
	SHELLSPLIT_HAS_SUBST = 1 << 2 /* one of its words holds a substitution */
};

struct shellsplit_cmd {
	/* The words after quote removal, joined by one space; a word holding blanks,
	 * quotes, glob or shell characters, or empty, is written back in single quotes
	 * so that one argument never reads as several. Redirections are left out. */
	char *text;
	unsigned flags; /* enum shellsplit_flags */
};

struct shellsplit {
	struct shellsplit_cmd *cmds; /* in source order, those inside substitutions included */
	size_t n;
	int substitution;  /* 1 when anything is substituted: $( ), ` `, <( ), >( ), or a
			      here-document body that would be expanded holding one */
	const char *why;   /* NULL when certain; else a static reason */
	size_t where;      /* byte offset the reason refers to */
};

/*
 * Split cmd[0..len) into *out (overwritten; always call shellsplit_free(), even on
 * failure). Returns 0 when the whole line was read with certainty, -1 when not:
 * out->why and out->where say what and where, and out holds the commands read up
 * to there (still useful to deny rules). cmd need not be NUL-terminated.
 */
int shellsplit_parse(const char *cmd, size_t len, struct shellsplit *out);

/* Free what shellsplit_parse() put in *s and zero it. */
void shellsplit_free(struct shellsplit *s);

#endif
