/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * When each stack's memory was allocated: per process and stack, the bytes and allocations
 * made in each span of time, and of those the ones still live. A report can then show what a
 * time range allocated and still holds. Spans are BIRTHS_SPANS equal parts of the run from its
 * first allocation; when an allocation comes past the last, the spans double (neighbours
 * merge), so the memory is bounded by the stacks seen, whatever the run's length. A stack
 * keeps only the spans it allocated in.
 */
#ifndef HT_BIRTHS_H
#define HT_BIRTHS_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"
#include "util/idmap.h"

#define BIRTHS_SPANS 64

/* What one stack allocated in one span. */
struct births_span {
	uint32_t span; /* index from the start */
	uint32_t live; /* of allocs, those not freed */
	uint32_t allocs;
	uint64_t live_bytes, alloc_bytes;
};

struct births_stack {
	uint32_t stack;		   /* the model's stack index, MODEL_NO_STACK included */
	struct births_span *spans; /* by span, ascending */
	size_t nspans, cap;
	/* what the stack holds now, and the most it held at any moment (heaptrack's "peak") */
	uint64_t live_bytes, peak_bytes;
};

struct births_proc {
	const struct model_proc *p;
	struct births_stack *stacks;
	size_t nstacks, cap;
	struct idmap index; /* stack + 1 -> index in stacks */
};

struct births;

/* Follows the allocations m applies (a consumer of its hooks); NULL when out of memory. */
struct births *births_new(struct model *m);
void births_free(struct births *b);
/* The first allocation's time and the span's length in ns (0, 0 before any allocation). */
uint64_t births_start(const struct births *b);
uint64_t births_span_ns(const struct births *b);
/* p's stacks, NULL when it allocated nothing. */
const struct births_proc *births_of(const struct births *b, const struct model_proc *p);
/* Allocations dropped for want of memory (their spans would be wrong): 0 normally. */
uint64_t births_dropped(const struct births *b);

#endif
