/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Distributions per process, what `hist` reports: allocation sizes (per stack too, when asked),
 * allocation lifetimes, memory syscall latencies, mmap sizes and page faults by kind. Built
 * from records only: the allocator's through the model's hooks, syscalls, faults, and the
 * histograms BPF kept (SYS_HIST records).
 */
#ifndef HT_DISTS_H
#define HT_DISTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "heaptrail.h"
#include "model/hist.h"
#include "model/model.h"
#include "util/idmap.h"

/* Page faults by kind: read/write/exec x page not present/present. */
#define DISTS_FAULT_KINDS 6
extern const char *const dists_fault_kind_names[DISTS_FAULT_KINDS];

struct dists_stack {
	uint32_t stack; /* the model's stack index */
	struct hist size;
	/*
	 * sampled mode: the allocations and bytes its sampled ones stand for (dists_stack_allocs);
	 * its size histogram has each sampled one's weight rounded at random, these exactly
	 */
	double est_allocs, est_bytes;
};

struct dists_proc {
	const struct model_proc *p;
	struct hist size, lifetime, mmap_size;
	struct hist sys[HT_SYS_MAX]; /* latency, by enum ht_sys */
	uint64_t faults[DISTS_FAULT_KINDS];
	struct dists_stack *by_stack;
	size_t nstacks, stacks_cap;
	struct idmap stack_index; /* a stack's index + 1 -> its by_stack entry */
};

/*
 * What a stack allocated over the run: exact, or in sampled mode estimated from its sampled
 * allocations, each weighed by model_sample_weight (its size histogram holds the sample).
 */
uint64_t dists_stack_allocs(const struct dists_proc *dp, const struct dists_stack *sh);
uint64_t dists_stack_bytes(const struct dists_proc *dp, const struct dists_stack *sh);

struct dists;

/*
 * Reads the processes of m and sets m's hooks. linear: bucket width (0: log2 buckets);
 * by_stack: allocation sizes per stack too.
 */
struct dists *dists_new(struct model *m, uint64_t linear, bool by_stack);
void dists_free(struct dists *d);
/* One record, after model_apply() had it. */
void dists_apply(struct dists *d, const struct ht_hdr *rec);
size_t dists_nprocs(const struct dists *d);
/*
 * How many leading frames of stack st, in process p, the process really had: by_stack entries
 * whose stacks agree on those (and differ only in what a frame-pointer walk read past them)
 * are merged into one. Without it every frame counts.
 */
typedef uint32_t (*dists_true_frames_fn)(void *ctx, const struct model_proc *p,
					 const struct model_stack *st);
void dists_set_true_frames(struct dists *d, dists_true_frames_fn fn, void *ctx);
/* In the order the processes were first seen; by_stack sorted by count, largest first. */
struct dists_proc *dists_proc(struct dists *d, size_t i);
/* The same of process p; NULL when p allocated nothing. */
struct dists_proc *dists_proc_find(struct dists *d, const struct model_proc *p);
/* Process p's entry as it stands (not merged nor sorted), for a look at its stacks; NULL if none. */
const struct dists_proc *dists_proc_peek(const struct dists *d, const struct model_proc *p);

#endif
