/* test_names.c: the tool modules' rule for showing file names (plugins/tools/names.h). */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../plugins/tools/names.h"

static const struct {
	const char *in;
	size_t len;     /* 0: strlen(in) */
	const char *out;
} cases[] = {
	{ "plain.txt", 0, "plain.txt" },
	{ "", 0, "" },
	{ "a\nb.txt", 0, "a\\x0Ab.txt" },
	{ "tab\there", 0, "tab\\x09here" },
	{ "cr\r", 0, "cr\\x0D" },
	{ "\x1b[31mred\x1b[0m", 0, "\\x1B[31mred\\x1B[0m" },
	{ "del\x7f", 0, "del\\x7F" },
	{ "nul\0x", 5, "nul\\x00x" },
	{ "caf\xc3\xa9", 0, "caf\xc3\xa9" },                /* valid UTF-8 stays */
	{ "\xe2\x82\xac 4-byte \xf0\x9f\x98\x80", 0, "\xe2\x82\xac 4-byte \xf0\x9f\x98\x80" },
	{ "latin1 caf\xe9", 0, "latin1 caf\\xE9" },           /* not UTF-8 */
	{ "csi\xc2\x9b" "2J", 0, "csi\\xC2\\x9B2J" },        /* a C1 control, both bytes */
	{ "nbsp\xc2\xa0", 0, "nbsp\xc2\xa0" },                /* U+00A0 is not a control */
	{ "over\xc0\xaf", 0, "over\\xC0\\xAF" },              /* overlong '/' */
	{ "surr\xed\xa0\x80", 0, "surr\\xED\\xA0\\x80" },     /* a surrogate */
	{ "big\xf4\x90\x80\x80", 0, "big\\xF4\\x90\\x80\\x80" }, /* past U+10FFFF */
	{ "cut\xe2\x82", 0, "cut\\xE2\\x82" },                /* truncated sequence */
	{ "a\\b", 0, "a\\b" },                                /* a lone backslash stays */
	{ "a\\x41", 0, "a\\x5Cx41" },                         /* ... unless it reads as \xNN */
	{ "end\\", 0, "end\\" },
	{ "\xc2", 0, "\\xC2" },
};

static void
test_escape_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		size_t n = cases[i].len ? cases[i].len : strlen(cases[i].in), got_len = 0;
		char *got = names_escape(cases[i].in, n, &got_len);
		assert_non_null(got);
		if (strcmp(got, cases[i].out) != 0)
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, got, cases[i].out);
		assert_int_equal(got_len, strlen(cases[i].out));
		assert_int_equal(names_needs_escape(cases[i].in, n), strcmp(got, cases[i].in) != 0 ||
				 n != strlen(cases[i].in));
		free(got);
	}
}

/* names_show gives the string itself when it is clean, else a copy to free. */
static void
test_show(void **state)
{
	(void)state;
	char *tofree = (char *)1;
	const char *s = "clean/name.c";
	assert_ptr_equal(names_show(s, &tofree), s);
	assert_null(tofree);
	const char *shown = names_show("two\nlines", &tofree);
	assert_non_null(tofree);
	assert_ptr_equal(shown, tofree);
	assert_string_equal(shown, "two\\x0Alines");
	free(tofree);
}

/* Every single byte, and a long name of control characters: four characters each,
 * never anything below 0x20 in the output. */
static void
test_every_byte(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		char in[1] = { (char)c };
		char *out = names_escape(in, 1, NULL);
		assert_non_null(out);
		for (const char *p = out; *p != '\0'; p++)
			assert_true((unsigned char)*p >= 0x20 && *p != 0x7f);
		if (c >= 0x20 && c < 0x7f)
			assert_int_equal(strlen(out), 1);
		else
			assert_int_equal(strlen(out), 4);
		free(out);
	}
	size_t n = 100000;
	char *big = malloc(n);
	memset(big, '\n', n);
	size_t len;
	char *out = names_escape(big, n, &len);
	assert_int_equal(len, 4 * n);
	free(out);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_show),
		cmocka_unit_test(test_every_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
