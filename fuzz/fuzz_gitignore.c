/*
 * fuzz_gitignore.c: the grep module's .gitignore rules (plugins/tools/grep.c): the
 * rule parser and the wildmatch-style matcher, reached by including the module's
 * source (they are static). Input: the ignore file's text, a NUL, then paths, one a
 * line (a trailing '/' marks a directory); every path is matched against the rules,
 * and each rule's pattern against the path as a glob (what `glob` and `grep --glob`
 * do), so a pattern that backtracks for ever shows up as a timeout.
 */
#include "../plugins/tools/grep.c"

#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	const char *nul = memchr(data, '\0', size);
	size_t rules_len = nul != NULL ? (size_t)(nul - (const char *)data) : size;
	char *rules = malloc(rules_len + 1);
	if (rules == NULL)
		return 0;
	memcpy(rules, data, rules_len);
	rules[rules_len] = '\0';
	struct grep_level lvl = { .dir_len = 5 };   /* strlen("/root") */
	if (grep_rules_parse(&lvl, rules) != 0)
		goto out;
	struct grep_job j = { 0 };
	j.levels = &lvl;
	j.n_levels = 1;
	const char *p = nul != NULL ? nul + 1 : (const char *)data + size;
	const char *end = (const char *)data + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		int is_dir = n > 0 && p[n - 1] == '/';
		size_t plen = is_dir ? n - 1 : n;
		char *path = malloc(plen + 7);
		if (path == NULL)
			break;
		memcpy(path, "/root/", 6);
		memcpy(path + 6, p, plen);
		path[plen + 6] = '\0';
		(void)grep_ignored(&j, path, is_dir);
		for (size_t i = 0; i < lvl.n && i < 16; i++)
			(void)grep_wildmatch(lvl.rules[i].pat, path + 6);
		free(path);
		p += n + 1;
	}
out:
	for (size_t i = 0; i < lvl.n; i++)
		free(lvl.rules[i].pat);
	free(lvl.rules);
	free(rules);
	return 0;
}
