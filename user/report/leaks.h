/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the leaks report computes: a process's live allocations summed per stack (those older
 * than --min-age), largest first, and each stack's growth since the previous --interval report.
 */
#ifndef HT_LEAKS_H
#define HT_LEAKS_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

struct leaks_stack {
	uint32_t stack;		/* the model's stack index, MODEL_NO_STACK for those without */
	uint64_t bytes, allocs; /* sampled mode: estimates (the sums below, rounded) */
	int64_t growth;		/* bytes since the last leaks_remember() of the process */
	double est_bytes, est_allocs; /* sampled mode: each allocation by its weight */
};

struct leaks;

struct leaks *leaks_new(const struct model *m, uint64_t min_age_ns);
void leaks_free(struct leaks *l);
/*
 * How many leading frames of stack st, in process p, the process really had (the rest being
 * what a frame-pointer walk read past code without frame pointers): stacks that agree on those
 * are summed as one. Without it every frame counts.
 */
typedef uint32_t (*leaks_true_frames_fn)(void *ctx, const struct model_proc *p,
					 const struct model_stack *st);
void leaks_set_true_frames(struct leaks *l, leaks_true_frames_fn fn, void *ctx);
/*
 * p's live allocations at now (its exit, for an exited process), summed per stack, largest
 * first: malloc'ed, *n entries (NULL when none).
 */
struct leaks_stack *leaks_stacks(struct leaks *l, const struct model_proc *p, uint64_t now,
				 size_t *n);
/* Keeps p's stacks (taking them) as what the next report's growth is measured from. */
void leaks_remember(struct leaks *l, const struct model_proc *p, struct leaks_stack *stacks,
		    size_t n);
/* From a model mark hook: the stacks remembered for growth stay (model_stacks_unused). */
void leaks_keep_stacks(const struct leaks *l, struct model *m);

#endif
