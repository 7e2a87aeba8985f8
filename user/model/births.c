// SPDX-License-Identifier: GPL-2.0-only
/* When each stack's memory was allocated: spans of the run per process and stack (births.h). */
#include <stdlib.h>
#include <string.h>
#include "model/births.h"
#include "model/proctab.h"
#include "util/vec.h"

/* The first spans' length: about a millisecond; it doubles as the run grows. */
#define BIRTHS_FIRST_SPAN_NS (1ull << 20)

struct births {
	const struct model *model; /* sampled mode: each block counts model_sample_count times */
	struct proctab procs;	   /* struct births_proc */
	uint64_t start, span_ns;
	bool started;
	uint64_t dropped;
};

uint64_t births_start(const struct births *b)
{
	return b->start;
}

uint64_t births_span_ns(const struct births *b)
{
	return b->span_ns;
}

uint64_t births_dropped(const struct births *b)
{
	return b->dropped;
}

const struct births_proc *births_of(const struct births *b, const struct model_proc *p)
{
	return proctab_find(&b->procs, p);
}

static uint32_t births_span_of(const struct births *b, uint64_t ts)
{
	return ts <= b->start ? 0 : (uint32_t)((ts - b->start) / b->span_ns);
}

/* Twice as long spans: each stack's neighbours merge. */
static void births_coarsen(struct births *b)
{
	b->span_ns *= 2;
	for (size_t i = 0; i < b->procs.n; i++) {
		struct births_proc *bp = b->procs.order[i];

		for (size_t k = 0; k < bp->nstacks; k++) {
			struct births_stack *st = &bp->stacks[k];
			size_t out = 0;

			for (size_t s = 0; s < st->nspans; s++) {
				struct births_span v = st->spans[s];

				v.span /= 2;
				if (out && st->spans[out - 1].span == v.span) {
					struct births_span *w = &st->spans[out - 1];

					w->live += v.live;
					w->allocs += v.allocs;
					w->live_bytes += v.live_bytes;
					w->alloc_bytes += v.alloc_bytes;
				} else {
					st->spans[out++] = v;
				}
			}
			st->nspans = out;
		}
	}
}

static struct births_stack *births_stack_of(struct births_proc *bp, uint32_t stack)
{
	uint64_t key = (uint64_t)stack + 1;
	long slot = idmap_find(&bp->index, key);

	if (slot >= 0)
		return &bp->stacks[bp->index.vals[slot]];
	if (!vec_room((void **)&bp->stacks, bp->nstacks, &bp->cap, sizeof(*bp->stacks), 16) ||
	    idmap_put(&bp->index, key, (uint32_t)bp->nstacks))
		return NULL;
	bp->stacks[bp->nstacks] = (struct births_stack){ .stack = stack };
	return &bp->stacks[bp->nstacks++];
}

/* The stack's entry for span, made at the end (allocations come in time order) if need be. */
static struct births_span *births_span_at(struct births_stack *st, uint32_t span, bool make)
{
	size_t lo = 0, hi = st->nspans;

	if (st->nspans && st->spans[st->nspans - 1].span == span)
		return &st->spans[st->nspans - 1];
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (st->spans[mid].span < span)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < st->nspans && st->spans[lo].span == span)
		return &st->spans[lo];
	if (!make || !vec_room((void **)&st->spans, st->nspans, &st->cap, sizeof(*st->spans), 2))
		return NULL;
	/* a record a little out of order (two threads) lands before the last span */
	memmove(&st->spans[lo + 1], &st->spans[lo], (st->nspans - lo) * sizeof(*st->spans));
	st->spans[lo] = (struct births_span){ .span = span };
	st->nspans++;
	return &st->spans[lo];
}

static void births_on_alloc(void *ctx, const struct model_proc *p, const struct model_alloc *a)
{
	struct births *b = ctx;
	bool fresh;
	struct births_proc *bp = proctab_get(&b->procs, p, sizeof(*bp), &fresh);
	struct births_stack *st;
	struct births_span *sp;
	uint64_t n = model_sample_count(b->model, a);

	if (!b->started) {
		b->start = a->ts_ns;
		b->started = true;
	}
	while (births_span_of(b, a->ts_ns) >= BIRTHS_SPANS)
		births_coarsen(b);
	if (bp && fresh)
		bp->p = p;
	st = bp ? births_stack_of(bp, a->stack) : NULL;
	sp = st ? births_span_at(st, births_span_of(b, a->ts_ns), true) : NULL;
	if (!sp) {
		b->dropped++;
		return;
	}
	sp->live += (uint32_t)n;
	sp->allocs += (uint32_t)n;
	sp->live_bytes += n * a->size;
	sp->alloc_bytes += n * a->size;
	st->live_bytes += n * a->size;
	if (st->live_bytes > st->peak_bytes)
		st->peak_bytes = st->live_bytes;
}

static void births_on_free(void *ctx, const struct model_proc *p, const struct model_alloc *a,
			   uint64_t ts_ns)
{
	struct births *b = ctx;
	struct births_proc *bp = (struct births_proc *)births_of(b, p);
	long slot = bp ? idmap_find(&bp->index, (uint64_t)a->stack + 1) : -1;
	struct births_stack *st = slot >= 0 ? &bp->stacks[bp->index.vals[slot]] : NULL;
	struct births_span *sp = st ? births_span_at(st, births_span_of(b, a->ts_ns), false) : NULL;
	uint64_t n = model_sample_count(b->model, a);

	/* not found: its allocation was one of the dropped */
	if (!sp || sp->live < n || sp->live_bytes < n * a->size || st->live_bytes < n * a->size)
		return;
	sp->live -= (uint32_t)n;
	sp->live_bytes -= n * a->size;
	st->live_bytes -= n * a->size;
}

static void births_proc_fini(void *entry);

static void births_forget(void *ctx, const struct model_proc *p)
{
	proctab_forget(&((struct births *)ctx)->procs, p, births_proc_fini);
}

/* Every stack an entry is kept for, or an index entry leads from (merged ones). */
static void births_mark(void *ctx, struct model *m)
{
	const struct proctab *t = &((struct births *)ctx)->procs;

	for (size_t i = 0; i < t->n; i++) {
		const struct births_proc *e = t->order[i];

		for (size_t k = 0; k < e->nstacks; k++)
			model_stack_keep(m, e->stacks[k].stack);
		for (size_t k = 0; k < e->index.cap; k++)
			if (e->index.keys[k])
				model_stack_keep(m, (uint32_t)(e->index.keys[k] - 1));
	}
}

static void births_reindex(void *ctx)
{
	proctab_reindex(&((struct births *)ctx)->procs);
}

struct births *births_new(struct model *m)
{
	struct births *b = calloc(1, sizeof(*b));
	struct model_hooks hooks = { .alloc = births_on_alloc,
				     .free = births_on_free,
				     .forget = births_forget,
				     .reindex = births_reindex,
				     .mark = births_mark };

	if (!b)
		return NULL;
	b->span_ns = BIRTHS_FIRST_SPAN_NS;
	b->model = m;
	hooks.ctx = b;
	if (model_add_hooks(m, &hooks)) {
		free(b);
		return NULL;
	}
	return b;
}

static void births_proc_fini(void *entry)
{
	struct births_proc *bp = entry;

	for (size_t k = 0; k < bp->nstacks; k++)
		free(bp->stacks[k].spans);
	free(bp->stacks);
	idmap_free(&bp->index);
}

void births_free(struct births *b)
{
	if (!b)
		return;
	proctab_free(&b->procs, births_proc_fini);
	free(b);
}
