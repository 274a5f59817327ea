/*
 * names.h: how the tool modules show file names and paths (in results, titles and
 * messages), linked into each tool module (modules cannot link the core).
 *
 * The rule, one for every tool: a name is shown byte for byte, except that each byte
 * that is a C0 control (0x00-0x1F), DEL (0x7F) or not part of valid UTF-8, each byte
 * of a C1 control (U+0080-U+009F), and a backslash followed by 'x', is written as the
 * four characters \xNN (two upper-case hex digits). So `a<newline>b.txt` is shown as
 * `a\x0Ab.txt`: one line per name, nothing a terminal acts on, and the original bytes
 * can always be read back: "\xNN" is byte NN, any other backslash is itself (so
 * `a\b` and shell commands read as they are). The same \xNN form is what the tools
 * already use for bytes of file content that are not UTF-8.
 */
#ifndef HEARTH_TOOLS_NAMES_H
#define HEARTH_TOOLS_NAMES_H

#include <stddef.h>

/* The escaped form of s[0..n): malloc'd, NUL-terminated; its length in *out_len when
 * out_len is not NULL. NULL when out of memory. */
char *names_escape(const char *s, size_t n, size_t *out_len);

/* s as shown: s itself when nothing in it needs escaping (*tofree = NULL), else a
 * malloc'd escaped copy that is also put in *tofree for the caller to free. NULL when
 * out of memory. s is NUL-terminated. */
const char *names_show(const char *s, char **tofree);

/* 1 when some byte of s[0..n) needs escaping. */
int names_needs_escape(const char *s, size_t n);

#endif
