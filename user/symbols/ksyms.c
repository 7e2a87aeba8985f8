// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel symbols: kallsyms text kept as given (so that a recording can carry it), parsed on
 * first lookup into a table of code symbols sorted by address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "symbols/ksyms.h"
#include "util/textbuf.h"
#include "util/vec.h"

struct ksym {
	uint64_t addr;
	const char *name;   /* into names */
	const char *module; /* into names, NULL: the kernel image */
};

struct ksyms {
	struct textbuf buf;
	struct ksym *syms;
	size_t nsyms;
	char *names; /* a parsed copy of text, NULs written in */
	bool parsed;
};

struct ksyms *ksyms_new(void)
{
	return calloc(1, sizeof(struct ksyms));
}

void ksyms_free(struct ksyms *k)
{
	if (!k)
		return;
	textbuf_free(&k->buf);
	free(k->syms);
	free(k->names);
	free(k);
}

int ksyms_add_text(struct ksyms *k, const char *text, size_t len)
{
	if (textbuf_append(&k->buf, text, len))
		return -1;
	k->parsed = false;
	return 0;
}

void ksyms_follow(struct ksyms *k, const struct ht_hdr *rec)
{
	const struct ht_maps *m = (const struct ht_maps *)rec;

	if (k && rec->type == HT_REC_KSYMS)
		ksyms_add_text(k, m->text, m->len);
}

int ksyms_load_proc(struct ksyms *k)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char buf[1 << 16];
	size_t n;
	int err = 0;

	if (!f)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (ksyms_add_text(k, buf, n)) {
			err = -1;
			break;
		}
	fclose(f);
	/* Without CAP_SYSLOG (kptr_restrict) every address reads as zero. */
	if (!err && (k->buf.len < 16 || !strncmp(k->buf.text, "0000000000000000", 16)))
		err = -1;
	return err;
}

bool ksyms_empty(const struct ksyms *k)
{
	return !k || k->buf.len == 0;
}

const char *ksyms_text(const struct ksyms *k, size_t *len)
{
	*len = k ? k->buf.len : 0;
	return k && k->buf.len ? k->buf.text : NULL;
}

static int by_addr(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Lines are "ffffffff81000000 T _stext" or "ffffffffc0a01000 t fn\t[module]". */
static int parse(struct ksyms *k)
{
	size_t cap = 0;
	char *save = NULL;

	free(k->names);
	free(k->syms);
	k->syms = NULL;
	k->nsyms = 0;
	k->names = malloc(k->buf.len + 1);
	if (!k->names)
		return -1;
	memcpy(k->names, k->buf.text, k->buf.len + 1);
	for (char *line = strtok_r(k->names, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *end, *type, *name, *module;
		uint64_t addr = strtoull(line, &end, 16);

		if (end == line || *end != ' ')
			continue;
		type = end + 1;
		if (!type[0] || type[1] != ' ')
			continue;
		/* code only: text and weak symbols */
		if (!strchr("tTwW", type[0]))
			continue;
		name = type + 2;
		module = strchr(name, '\t');
		if (module) {
			*module++ = 0;
			if (*module == '[') {
				module++;
				module[strcspn(module, "]")] = 0;
			}
		}
		if (!vec_room((void **)&k->syms, k->nsyms, &cap, sizeof(*k->syms), 65536))
			return -1;
		k->syms[k->nsyms++] = (struct ksym){ addr, name, module };
	}
	if (k->nsyms) /* text without one code symbol: syms is still NULL */
		qsort(k->syms, k->nsyms, sizeof(*k->syms), by_addr);
	k->parsed = true;
	return 0;
}

const char *ksyms_lookup(struct ksyms *k, uint64_t addr, uint64_t *off, const char **module)
{
	size_t lo = 0, hi;

	if (!k || !k->buf.len || (!k->parsed && parse(k)))
		return NULL;
	hi = k->nsyms;
	if (!hi || addr < k->syms[0].addr)
		return NULL;
	/* the last symbol at or below addr */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->syms[mid].addr <= addr)
			lo = mid;
		else
			hi = mid;
	}
	*off = addr - k->syms[lo].addr;
	*module = k->syms[lo].module;
	return k->syms[lo].name;
}
