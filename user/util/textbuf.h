/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A growing text buffer, always NUL-terminated: text that comes in pieces (the records of a
 * recording, the reads of a /proc or /sys file) and is parsed whole.
 */
#ifndef HT_TEXTBUF_H
#define HT_TEXTBUF_H

#include <stdlib.h>
#include <string.h>

struct textbuf {
	char *text; /* NULL until something is appended */
	size_t len, cap;
};

/* 0, or -1 out of memory (the text is then unchanged). */
static inline int textbuf_append(struct textbuf *b, const char *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *t = realloc(b->text, cap);

		if (!t)
			return -1;
		b->text = t;
		b->cap = cap;
	}
	memcpy(b->text + b->len, p, n);
	b->len += n;
	b->text[b->len] = '\0';
	return 0;
}

static inline void textbuf_free(struct textbuf *b)
{
	free(b->text);
	*b = (struct textbuf){ 0 };
}

#endif
