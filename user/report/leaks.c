// SPDX-License-Identifier: GPL-2.0-only
/* The leaks report's sums: per stack, per process, with growth between interval reports. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "report/leaks.h"
#include "util/vec.h"

/* A process's stacks at the previous report, sorted by stack index. */
struct leaks_previous {
	const struct model_proc *proc;
	struct leaks_stack *sums;
	size_t n;
};

struct leaks {
	const struct model *m;
	uint64_t min_age_ns;
	struct leaks_previous *prev;
	size_t nprev;
	leaks_true_frames_fn true_frames;
	void *true_frames_ctx;
};

void leaks_set_true_frames(struct leaks *l, leaks_true_frames_fn fn, void *ctx)
{
	l->true_frames = fn;
	l->true_frames_ctx = ctx;
}

struct leaks *leaks_new(const struct model *m, uint64_t min_age_ns)
{
	struct leaks *l = calloc(1, sizeof(*l));

	if (l) {
		l->m = m;
		l->min_age_ns = min_age_ns;
	}
	return l;
}

void leaks_free(struct leaks *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->nprev; i++)
		free(l->prev[i].sums);
	free(l->prev);
	free(l);
}

static int leaks_by_bytes(const void *a, const void *b)
{
	const struct leaks_stack *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int leaks_by_stack(const void *a, const void *b)
{
	const struct leaks_stack *x = a, *y = b;

	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static struct leaks_previous *leaks_previous_of(struct leaks *l, const struct model_proc *p)
{
	for (size_t i = 0; i < l->nprev; i++)
		if (l->prev[i].proc == p)
			return &l->prev[i];
	return NULL;
}

void leaks_keep_stacks(const struct leaks *l, struct model *m)
{
	for (size_t i = 0; i < l->nprev; i++)
		for (size_t k = 0; k < l->prev[i].n; k++)
			if (l->prev[i].sums[k].stack != MODEL_NO_STACK)
				model_stack_keep(m, l->prev[i].sums[k].stack);
}

/* Bytes of this stack at the previous report; 0 when it had none then. */
static uint64_t leaks_previous_bytes(const struct leaks_previous *prev, uint32_t stack)
{
	struct leaks_stack key = { .stack = stack }, *hit;

	if (!prev || !prev->n)
		return 0;
	hit = bsearch(&key, prev->sums, prev->n, sizeof(key), leaks_by_stack);
	return hit ? hit->bytes : 0;
}

/* A sum with the frames it shows: its stack cut to the frames the process really had. */
struct leaks_shown {
	struct leaks_stack sum;
	const uint64_t *frames; /* NULL: nothing to show, stays apart */
	uint32_t nframes;
	bool cut; /* frames past nframes were not the process's: shown as cut */
};

static int leaks_by_frames(const void *a, const void *b)
{
	const struct leaks_shown *x = a, *y = b;
	int c = 0;

	if (x->frames && y->frames)
		c = model_stack_shown_cmp(x->frames, x->nframes, x->cut, y->frames, y->nframes,
					  y->cut);
	else if (!x->frames != !y->frames)
		c = x->frames ? -1 : 1;
	if (c)
		return c;
	return x->sum.stack < y->sum.stack ? -1 : x->sum.stack > y->sum.stack;
}

/*
 * Sums of stacks that differ only past their true frames are one: the same call path, with
 * different garbage after it. The smallest stack index stands for them (stable between
 * reports). Returns the new count.
 */
static size_t leaks_merge_cut(struct leaks *l, const struct model_proc *p, struct leaks_stack *sums,
			      size_t count)
{
	struct leaks_shown *v = malloc(count * sizeof(*v));
	size_t out = 0;

	if (!v)
		return count;
	for (size_t i = 0; i < count; i++) {
		const struct model_stack *st =
			sums[i].stack == MODEL_NO_STACK ? NULL : model_stack(l->m, sums[i].stack);

		v[i] = (struct leaks_shown){ .sum = sums[i] };
		if (st && st->frames) {
			v[i].frames = st->frames;
			v[i].nframes = l->true_frames(l->true_frames_ctx, p, st);
			v[i].cut = v[i].nframes < st->nframes || st->walk_cut;
		}
	}
	qsort(v, count, sizeof(*v), leaks_by_frames);
	for (size_t i = 0, rep = 0; i < count; i++) {
		if (out && v[i].frames && v[rep].frames &&
		    !model_stack_shown_cmp(v[i].frames, v[i].nframes, v[i].cut, v[rep].frames,
					   v[rep].nframes, v[rep].cut)) {
			sums[out - 1].bytes += v[i].sum.bytes;
			sums[out - 1].allocs += v[i].sum.allocs;
			sums[out - 1].est_bytes += v[i].sum.est_bytes;
			sums[out - 1].est_allocs += v[i].sum.est_allocs;
			continue;
		}
		rep = i;
		sums[out++] = v[i].sum;
	}
	free(v);
	return out;
}

/* Sums being built: per stack, found through an open-addressing index. */
struct leaks_build {
	struct leaks_stack *sums;
	size_t count, cap;
	uint32_t *index; /* position in sums + 1, 0: empty */
	size_t hcap;	 /* a power of two, at least twice what may go in */
};

/* w: how many allocations each of these stands for (sampled mode), else 1 */
static void leaks_add(struct leaks_build *b, uint32_t stack, uint64_t bytes, uint64_t allocs,
		      double w)
{
	size_t h = (size_t)(((uint64_t)stack + 1) * 0x9e3779b97f4a7c15ull >> 32) & (b->hcap - 1);

	while (b->index[h] && b->sums[b->index[h] - 1].stack != stack)
		h = (h + 1) & (b->hcap - 1);
	if (!b->index[h]) {
		if (!vec_room((void **)&b->sums, b->count, &b->cap, sizeof(*b->sums), 16))
			return;
		b->sums[b->count] = (struct leaks_stack){ .stack = stack };
		b->index[h] = (uint32_t)++b->count;
	}
	b->sums[b->index[h] - 1].bytes += bytes;
	b->sums[b->index[h] - 1].allocs += allocs;
	b->sums[b->index[h] - 1].est_bytes += w * (double)bytes;
	b->sums[b->index[h] - 1].est_allocs += w * (double)allocs;
}

struct leaks_stack *leaks_stacks(struct leaks *l, const struct model_proc *p, uint64_t now,
				 size_t *n)
{
	uint64_t end = p->exited ? p->exit_ns : now;
	const struct leaks_previous *prev = leaks_previous_of(l, p);
	struct leaks_build b = { .hcap = 16 };
	const struct model_alloc_sum *sum;
	const struct model_alloc *a;
	struct leaks_stack *sums;
	size_t pos = 0, count;

	*n = 0;
	/* sized by what the process holds, not by every stack seen (one memset per process) */
	while (b.hcap < (p->count + p->nsums) * 2)
		b.hcap *= 2;
	b.index = calloc(b.hcap, sizeof(*b.index));
	if (!b.index)
		return NULL;
	while ((a = model_proc_next_alloc(p, &pos)))
		if (end - a->ts_ns >= l->min_age_ns && a->ts_ns <= end)
			leaks_add(&b, a->stack, a->size, 1, model_sample_weight(l->m, a->size));
	/* an exited process's, kept as sums per stack (model_set_exit_age) */
	pos = 0;
	while ((sum = model_proc_next_sum(p, &pos)))
		if (end - sum->ts_ns >= l->min_age_ns && sum->ts_ns <= end)
			leaks_add(&b, sum->stack, sum->bytes, sum->count, 1.0); /* weighed */
	free(b.index);
	count = b.count;
	sums = b.sums;
	for (size_t i = 0; p->sampled && i < count; i++) {
		sums[i].bytes = (uint64_t)llround(sums[i].est_bytes);
		sums[i].allocs = (uint64_t)llround(sums[i].est_allocs);
	}
	if (l->true_frames && count)
		count = leaks_merge_cut(l, p, sums, count);
	for (size_t i = 0; i < count; i++)
		sums[i].growth =
			(int64_t)(sums[i].bytes - leaks_previous_bytes(prev, sums[i].stack));
	if (count)
		qsort(sums, count, sizeof(*sums), leaks_by_bytes);
	*n = count;
	return sums;
}

void leaks_remember(struct leaks *l, const struct model_proc *p, struct leaks_stack *stacks,
		    size_t n)
{
	struct leaks_previous *prev = leaks_previous_of(l, p);

	if (!prev) {
		struct leaks_previous *np = realloc(l->prev, (l->nprev + 1) * sizeof(*np));

		if (!np) {
			free(stacks);
			return;
		}
		l->prev = np;
		prev = &l->prev[l->nprev++];
		prev->proc = p;
		prev->sums = NULL;
	}
	free(prev->sums);
	if (n)
		qsort(stacks, n, sizeof(*stacks), leaks_by_stack);
	prev->sums = stacks;
	prev->n = n;
}
