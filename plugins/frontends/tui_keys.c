/* tui_keys.c: terminal input bytes to keys, pastes and mouse events (see tui.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui.h"

#define TUI_PASTE_START "\033[200~"
#define TUI_PASTE_END "\033[201~"
#define TUI_MAX_PASTE (16u << 20)

void
tui_keys_feed(struct tui_keys *k, const char *data, size_t len)
{
	if (k->len + len + 1 > k->cap) {
		size_t cap = k->cap ? k->cap : 256;
		while (cap < k->len + len + 1)
			cap *= 2;
		char *b = realloc(k->buf, cap);
		if (b == NULL)
			abort();
		k->buf = b;
		k->cap = cap;
	}
	memcpy(k->buf + k->len, data, len);
	k->len += len;
}

void
tui_keys_clear(struct tui_keys *k)
{
	free(k->buf);
	free(k->paste);
	memset(k, 0, sizeof *k);
}

static void
tui_keys_eat(struct tui_keys *k, size_t n)
{
	memmove(k->buf, k->buf + n, k->len - n);
	k->len -= n;
}

static void
tui_keys_paste_add(struct tui_keys *k, const char *p, size_t n)
{
	size_t max = k->max_paste ? k->max_paste : TUI_MAX_PASTE;
	if (k->plen + n > max)
		n = max > k->plen ? max - k->plen : 0;
	if (n == 0)
		return;
	if (k->plen + n + 1 > k->pcap) {
		size_t cap = k->pcap ? k->pcap : 4096;
		while (cap < k->plen + n + 1)
			cap *= 2;
		char *b = realloc(k->paste, cap);
		if (b == NULL)
			abort();
		k->paste = b;
		k->pcap = cap;
	}
	memcpy(k->paste + k->plen, p, n);
	k->plen += n;
	k->paste[k->plen] = '\0';
}

/* A CSI sequence's final byte index, or 0 when incomplete. */
static size_t
tui_keys_csi_end(const char *b, size_t len)
{
	for (size_t i = 2; i < len; i++) {
		unsigned char c = (unsigned char)b[i];
		if (c >= 0x40 && c <= 0x7E)
			return i;
		if (c < 0x20 || c > 0x3F)
			return i; /* malformed: stop here */
	}
	return 0;
}

static int
tui_keys_csi(struct tui_keys *k, struct tui_key *key, size_t end)
{
	const char *b = k->buf;
	char fin = b[end];
	size_t plen = end - 2;
	char params[64];
	if (plen >= sizeof params)
		plen = sizeof params - 1;
	memcpy(params, b + 2, plen);
	params[plen] = '\0';
	memset(key, 0, sizeof *key);
	if (params[0] == '<' && (fin == 'M' || fin == 'm')) {
		/* SGR mouse: <button;x;y */
		int btn = 0, x = 0, y = 0;
		if (sscanf(params + 1, "%d;%d;%d", &btn, &x, &y) == 3) {
			if ((btn & 64) && !(btn & 1))
				key->type = TK_WHEEL_UP;
			else if ((btn & 64) && (btn & 1))
				key->type = TK_WHEEL_DOWN;
			else if (fin == 'M' && (btn & 3) == 0 && !(btn & 32)) {
				key->type = TK_CLICK;
				key->x = x - 1;
				key->y = y - 1;
			}
		}
	} else if (fin == '~') {
		int n = atoi(params);
		switch (n) {
		case 1: case 7: key->type = TK_HOME; break;
		case 4: case 8: key->type = TK_END; break;
		case 3: key->type = TK_DELETE; break;
		case 5: key->type = TK_PGUP; break;
		case 6: key->type = TK_PGDN; break;
		case 13: key->type = TK_NEWLINE; break; /* xterm modifyOtherKeys Shift+Enter */
		default: break;
		}
		if (strcmp(params, "27;2;13") == 0 || strcmp(params, "27;3;13") == 0)
			key->type = TK_NEWLINE;
	} else {
		switch (fin) {
		case 'A': key->type = TK_UP; break;
		case 'B': key->type = TK_DOWN; break;
		case 'C': key->type = TK_RIGHT; break;
		case 'D': key->type = TK_LEFT; break;
		case 'H': key->type = TK_HOME; break;
		case 'F': key->type = TK_END; break;
		case 'u':
			if (strncmp(params, "13;", 3) == 0)
				key->type = TK_NEWLINE; /* kitty protocol: modified Enter */
			break;
		default: break;
		}
	}
	tui_keys_eat(k, end + 1);
	return 1;
}

int
tui_keys_next(struct tui_keys *k, struct tui_key *key, int flush)
{
	memset(key, 0, sizeof *key);
	for (;;) {
		if (k->in_paste) {
			/* collect to the end marker, which may be split across reads */
			const size_t ml = sizeof TUI_PASTE_END - 1;
			size_t i = 0;
			for (; i < k->len; i++) {
				if (k->buf[i] == '\033' && k->len - i >= ml &&
				    memcmp(k->buf + i, TUI_PASTE_END, ml) == 0)
					break;
				if (k->buf[i] == '\033' && k->len - i < ml &&
				    memcmp(k->buf + i, TUI_PASTE_END, k->len - i) == 0)
					break;
			}
			tui_keys_paste_add(k, k->buf, i);
			tui_keys_eat(k, i);
			if (k->len < ml)
				return 0;
			tui_keys_eat(k, ml);
			k->in_paste = 0;
			key->type = TK_PASTE;
			key->text = k->paste != NULL ? k->paste : "";
			key->len = k->plen;
			k->plen = 0;
			return 1;
		}
		if (k->len == 0)
			return 0;
		unsigned char c = (unsigned char)k->buf[0];
		if (c == 0x1B) {
			if (k->len == 1) {
				if (!flush)
					return 0;
				tui_keys_eat(k, 1);
				key->type = TK_ESC;
				return 1;
			}
			char c1 = k->buf[1];
			if (c1 == '[') {
				const size_t sl = sizeof TUI_PASTE_START - 1;
				if (k->len >= sl && memcmp(k->buf, TUI_PASTE_START, sl) == 0) {
					tui_keys_eat(k, sl);
					k->in_paste = 1;
					k->plen = 0;
					continue;
				}
				size_t end = tui_keys_csi_end(k->buf, k->len);
				if (end == 0)
					return 0;
				tui_keys_csi(k, key, end);
				if (key->type == TK_NONE)
					continue;
				return 1;
			}
			if (c1 == 'O') {
				if (k->len < 3)
					return 0;
				char f = k->buf[2];
				tui_keys_eat(k, 3);
				switch (f) {
				case 'A': key->type = TK_UP; break;
				case 'B': key->type = TK_DOWN; break;
				case 'C': key->type = TK_RIGHT; break;
				case 'D': key->type = TK_LEFT; break;
				case 'H': key->type = TK_HOME; break;
				case 'F': key->type = TK_END; break;
				default: continue;
				}
				return 1;
			}
			if (c1 == '\r' || c1 == '\n') {
				tui_keys_eat(k, 2);
				key->type = TK_NEWLINE; /* Alt+Enter */
				return 1;
			}
			if (c1 == 0x1B) {
				tui_keys_eat(k, 1);
				key->type = TK_ESC;
				return 1;
			}
			/* Alt+key: the key itself */
			tui_keys_eat(k, 1);
			continue;
		}
		if (c == '\r') {
			tui_keys_eat(k, 1);
			key->type = TK_ENTER;
			return 1;
		}
		if (c == '\n') {
			tui_keys_eat(k, 1);
			key->type = TK_NEWLINE; /* Ctrl+J */
			return 1;
		}
		if (c == '\t') {
			tui_keys_eat(k, 1);
			key->type = TK_TAB;
			return 1;
		}
		if (c == 0x7F || c == 0x08) {
			tui_keys_eat(k, 1);
			key->type = TK_BACKSPACE;
			return 1;
		}
		if (c < 0x20) {
			tui_keys_eat(k, 1);
			if (c == 0)
				continue;
			key->type = TK_CTRL;
			key->cp = (uint32_t)('a' + c - 1);
			return 1;
		}
		/* a character: wait for all its bytes */
		size_t need = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
		if (k->len < need && !flush)
			return 0;
		uint32_t cp;
		size_t n = tui_utf8_decode(k->buf, k->len, &cp);
		tui_keys_eat(k, n);
		key->type = TK_CHAR;
		key->cp = cp;
		return 1;
	}
}
