/* names.c: file names shown with control characters escaped (see names.h). */
#include <stdlib.h>
#include <string.h>

#include "names.h"

/* The length of the valid UTF-8 sequence at s (1-4), or 0 when the byte at s does not
 * start one (overlong forms, surrogates and values past U+10FFFF are not valid). */
static size_t
names_utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len;
	unsigned lo = 0x80, hi = 0xBF;
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		if (s[0] == 0xE0)
			lo = 0xA0;
		else if (s[0] == 0xED)
			hi = 0x9F;
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		if (s[0] == 0xF0)
			lo = 0x90;
		else if (s[0] == 0xF4)
			hi = 0x8F;
	} else {
		return 0;
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	return len;
}

/* How many bytes at s are shown as they are (0: the byte at s is escaped). */
static size_t
names_plain_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x20 || s[0] == 0x7F)
		return 0;
	/* A backslash only where it would read as an escape. */
	if (s[0] == '\\' && n > 1 && s[1] == 'x')
		return 0;
	size_t l = names_utf8_len(s, n);
	if (l == 2 && s[0] == 0xC2 && s[1] < 0xA0)   /* C1 controls: U+0080-U+009F */
		return 0;
	return l;
}

int
names_needs_escape(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		size_t l = names_plain_len(u + i, n - i);
		if (l == 0)
			return 1;
		i += l;
	}
	return 0;
}

char *
names_escape(const char *s, size_t n, size_t *out_len)
{
	const unsigned char *u = (const unsigned char *)s;
	/* At most four characters per byte. */
	if (n > (((size_t)-1) - 1) / 4)
		return NULL;
	char *out = malloc(4 * n + 1), *o = out;
	if (out == NULL)
		return NULL;
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n;) {
		size_t l = names_plain_len(u + i, n - i);
		if (l > 0) {
			memcpy(o, s + i, l);
			o += l;
			i += l;
			continue;
		}
		/* A C1 control is two bytes, both shown. */
		size_t k = u[i] == 0xC2 && i + 1 < n && u[i + 1] >= 0x80 && u[i + 1] < 0xA0 ? 2 : 1;
		for (size_t j = 0; j < k; j++, i++) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[u[i] >> 4];
			*o++ = hex[u[i] & 0xF];
		}
	}
	*o = '\0';
	if (out_len != NULL)
		*out_len = (size_t)(o - out);
	return out;
}

const char *
names_show(const char *s, char **tofree)
{
	size_t n = strlen(s);
	*tofree = NULL;
	if (!names_needs_escape(s, n))
		return s;
	*tofree = names_escape(s, n, NULL);
	return *tofree;
}
