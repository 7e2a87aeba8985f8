/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel-allocator tracepoints (-k): which of them this kernel has, where their arguments are
 * (from BTF), attaching them, and the events the kernel skipped because a program was already
 * running on that CPU.
 */
#ifndef HT_KMEM_H
#define HT_KMEM_H

#include <stdbool.h>
#include <stdint.h>
#include "heaptrail.h" /* before the skeleton: it names the shared types */
#include "heaptrail.skel.h"

struct kmem;

/*
 * Before load: fills the argument layouts and sets autoload; with wanted false, turns every
 * program off and returns NULL. Returns NULL with errno set when -k cannot work here (no BTF,
 * or none of the allocator tracepoints), after saying why.
 */
struct kmem *kmem_prepare(struct heaptrail_bpf *skel, bool wanted, bool stacks, unsigned table_size,
			  bool verbose);
/* After load: attaches the chosen programs through push(). 0, or -1 after saying why. */
int kmem_attach(struct kmem *k, struct heaptrail_bpf *skel,
		int (*push)(void *ctx, struct bpf_link *link), void *ctx);
/*
 * After attach: starts counting the free tracepoints' hits with perf, the kernel's own count,
 * against the free programs' runs and misses. 0, or -1 when out of memory.
 */
int kmem_watch_start(struct kmem *k, struct heaptrail_bpf *skel);
/*
 * At the end, after the last read: frees the kernel made that neither copy of a free program
 * saw (hits beyond runs and misses). They may have been of traced allocations, which then show
 * as live: a loss. Stops the watch.
 */
uint64_t kmem_watch_unseen(struct kmem *k);
/* Events the programs missed by nesting on one CPU, so far (bpf_prog_info.recursion_misses). */
uint64_t kmem_nested_misses(const struct kmem *k);
void kmem_free(struct kmem *k);

#endif
