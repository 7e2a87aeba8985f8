// SPDX-License-Identifier: GPL-2.0-only
/* Module lists followed from the records, for the reports that symbolize stacks. */
#include <stdlib.h>
#include <string.h>
#include "report/report.h"

uint32_t report_true_frames(void *sym, const struct model_proc *p, const struct model_stack *st)
{
	return symbolize_true_frames(sym, p->pid, p->start_ns, st->frames, st->nframes);
}

/* Appends n addresses to a growing array; 0, or -1 out of memory. */
static int report_retain_add(uint64_t **addrs, size_t *n, size_t *cap, const uint64_t *add,
			     size_t nadd)
{
	if (*n + nadd > *cap) {
		size_t ncap = (*n + nadd) * 2;
		uint64_t *na = realloc(*addrs, ncap * sizeof(*na));

		if (!na)
			return -1;
		*addrs = na;
		*cap = ncap;
	}
	if (nadd)
		memcpy(*addrs + *n, add, nadd * sizeof(*add));
	*n += nadd;
	return 0;
}

static int report_retain_stack(const struct model *m, uint32_t stack, uint64_t **addrs, size_t *n,
			       size_t *cap)
{
	const struct model_stack *st = stack == MODEL_NO_STACK ? NULL : model_stack(m, stack);

	return st && st->frames ? report_retain_add(addrs, n, cap, st->frames, st->nframes) : 0;
}

void report_retain_leaked(struct symbolizer *sym, const struct model *m, const struct dists *d,
			  const struct ht_hdr *rec)
{
	const struct dists_proc *dp;
	const struct model_proc *p = NULL;
	const struct model_alloc_sum *sum;
	uint64_t *addrs = NULL;
	size_t n = 0, cap = 0, pos = 0;

	if (rec->type != HT_REC_EXIT)
		return;
	/* the latest process of that pid: the one that just exited */
	for (size_t i = model_nprocs(m); i-- > 0 && !p;)
		if (model_proc_at(m, i)->pid == rec->pid)
			p = model_proc_at(m, i);
	/* an exited process's slots are gone once its sums are made (model_set_exit_age) */
	if (!p || !p->exited || p->cap)
		return;
	/* the stacks of its sums, and of its double frees with their callers */
	while ((sum = model_proc_next_sum(p, &pos)))
		if (report_retain_stack(m, sum->stack, &addrs, &n, &cap))
			goto out;
	for (uint64_t k = 0; k < p->double_free_kept; k++)
		if (report_retain_stack(m, p->double_free[k].stack, &addrs, &n, &cap) ||
		    report_retain_add(&addrs, &n, &cap, &p->double_free[k].caller, 1))
			goto out;
	/* and what each stack allocated, freed since or not (pprof's alloc_*, alloc-bytes) */
	dp = d ? dists_proc_peek(d, p) : NULL;
	for (size_t k = 0; dp && k < dp->nstacks; k++)
		if (report_retain_stack(m, dp->by_stack[k].stack, &addrs, &n, &cap))
			goto out;
	symbolize_retain(sym, p->pid, p->start_ns, addrs, n);
out: /* out of memory: the whole list stays */
	free(addrs);
}

void report_follow_modules(struct symbolizer *sym, const struct model *m, const struct ht_hdr *rec)
{
	const struct model_proc *p, *parent;

	switch (rec->type) {
	case HT_REC_STACK:
		p = model_proc_live(m, rec->pid);
		if (p) {
			const uint64_t *frames =
				(const uint64_t *)((const struct ht_stack *)rec)->frames;
			size_t n = ((const struct ht_stack *)rec)->nframes;

			symbolize_cover(sym, p->pid, p->start_ns, rec->ts_ns, frames, n);
			symbolize_warm(sym, p->pid, p->start_ns, frames, n);
		}
		break;
	case HT_REC_MAPS: /* the source's snapshots, live or recorded */
		p = model_proc_live(m, rec->pid);
		if (p)
			symbolize_add_maps(sym, p->pid, p->start_ns,
					   ((const struct ht_maps *)rec)->text,
					   ((const struct ht_maps *)rec)->len);
		break;
	case HT_REC_BUILD_ID: {
		const struct ht_build_id *b = (const struct ht_build_id *)rec;
		struct sym_build_id sb = { .dev_major = b->dev_major,
					   .dev_minor = b->dev_minor,
					   .inode = b->inode,
					   .len = b->len };

		_Static_assert(SYMBOLIZE_BUILD_ID_MAX == HT_BUILD_ID_MAX, "build-id sizes");
		memcpy(sb.id, b->id, b->len);
		symbolize_add_build_id(sym, &sb);
		break;
	}
	case HT_REC_FORK:
		p = model_proc_live(m, ((const struct ht_fork *)rec)->child_pid);
		parent = model_proc_live(m, rec->pid);
		if (p && parent)
			symbolize_inherit(sym, p->pid, p->start_ns, parent->pid, parent->start_ns);
		break;
	}
}

bool report_is_allocator_code(void *ctx, const struct model_proc *p, uint64_t addr)
{
	const struct report_allocator_code *c = ctx;
	const char *path = symbolize_module(c->sym, p->pid, p->start_ns, addr);
	const char *base;

	if (!path)
		return false;
	for (int i = 0; i < c->nlibs; i++)
		if (!strcmp(path, c->libs[i]))
			return true;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5) ||
	       !strncmp(base, "libstdc++.so", 12);
}
