// SPDX-License-Identifier: GPL-2.0-only
/*
 * Merged slab caches: a table of (name, shared cache) read from /sys/kernel/slab, where a
 * merged cache is a symbolic link to the shared one (":A-0000128"), or from SLABS records.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "symbols/slabs.h"
#include "util/textbuf.h"
#include "util/vec.h"

struct slab_alias {
	const char *name, *shared; /* into text */
};

struct slabs {
	struct textbuf buf; /* "name shared\n" lines, as given */
	bool parsed;
	char *pbuf; /* a copy of text, cut into the pairs of a */
	struct slab_alias *a;
	size_t n;
};

struct slabs *slabs_new(void)
{
	return calloc(1, sizeof(struct slabs));
}

void slabs_free(struct slabs *s)
{
	if (!s)
		return;
	textbuf_free(&s->buf);
	free(s->pbuf);
	free(s->a);
	free(s);
}

static int add_text(struct slabs *s, const char *text, size_t len)
{
	if (textbuf_append(&s->buf, text, len))
		return -1;
	s->parsed = false;
	return 0;
}

int slabs_load_sys(struct slabs *s)
{
	DIR *d = opendir("/sys/kernel/slab");
	struct dirent *e;
	char path[PATH_MAX], target[PATH_MAX], line[2 * NAME_MAX + 4];

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		ssize_t n;

		if (e->d_type != DT_LNK)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%s", e->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		n = snprintf(line, sizeof(line), "%s %s\n", e->d_name,
			     strrchr(target, '/') ? strrchr(target, '/') + 1 : target);
		if (n > 0 && (size_t)n < sizeof(line) && add_text(s, line, (size_t)n)) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return 0;
}

void slabs_follow(struct slabs *s, const struct ht_hdr *rec)
{
	const struct ht_maps *m = (const void *)rec;

	if (s && rec->type == HT_REC_SLABS)
		add_text(s, m->text, m->len);
}

bool slabs_empty(const struct slabs *s)
{
	return !s || !s->buf.len;
}

const char *slabs_text(const struct slabs *s, size_t *len)
{
	*len = s ? s->buf.len : 0;
	return s && s->buf.len ? s->buf.text : NULL;
}

static int by_name(const void *x, const void *y)
{
	return strcmp(((const struct slab_alias *)x)->name, ((const struct slab_alias *)y)->name);
}

/* Cuts a copy of the text into (name, shared) pairs; lines without both are skipped. */
static void parse(struct slabs *s)
{
	char *p, *end;
	size_t cap = 0;

	s->parsed = true;
	s->n = 0;
	free(s->pbuf);
	s->pbuf = malloc(s->buf.len + 1);
	if (!s->pbuf)
		return;
	memcpy(s->pbuf, s->buf.text, s->buf.len + 1);
	for (p = s->pbuf, end = s->pbuf + s->buf.len; p < end;) {
		char *eol = memchr(p, '\n', (size_t)(end - p)), *sp;

		if (!eol)
			eol = end;
		*eol = '\0';
		sp = strchr(p, ' ');
		if (sp && sp > p && sp[1]) {
			*sp = '\0';
			if (!vec_room((void **)&s->a, s->n, &cap, sizeof(*s->a), 64))
				break;
			s->a[s->n++] = (struct slab_alias){ p, sp + 1 };
		}
		p = eol + 1;
	}
	if (s->n)
		qsort(s->a, s->n, sizeof(*s->a), by_name);
}

size_t slabs_merged_with(struct slabs *s, const char *name,
			 void (*fn)(void *ctx, const char *other), void *ctx)
{
	const char *shared = NULL;
	size_t count = 0;

	if (!s || !s->buf.len)
		return 0;
	if (!s->parsed)
		parse(s);
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->a[i].name, name))
			shared = s->a[i].shared;
	if (!shared)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		if (strcmp(s->a[i].shared, shared) || !strcmp(s->a[i].name, name))
			continue;
		if (fn)
			fn(ctx, s->a[i].name);
		count++;
	}
	return count;
}
