/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel side of the model: live kernel allocations (kmalloc, slab caches, pages, vmalloc,
 * percpu) with their stacks, and counts per allocator and per slab cache. Kernel memory is one
 * address space, so there is one table, not one per process.
 */
#ifndef HT_KMODEL_H
#define HT_KMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "heaptrail.h"

#define KMODEL_NO_CACHE UINT16_MAX

struct kmodel_alloc {
	uint64_t ptr; /* 0: empty slot */
	uint64_t bytes_req, bytes_alloc;
	uint64_t ts_ns;
	uint64_t gfp_flags;
	uint64_t call_site;
	uint64_t stack_id; /* 0: none */
	uint32_t pid;
	uint16_t cache; /* index in the cache table, or KMODEL_NO_CACHE */
	uint8_t kind;	/* enum ht_kalloc */
	uint8_t order;
};

struct kmodel_counts {
	uint64_t allocs, frees;
	uint64_t live_allocs, live_bytes;
	uint64_t bytes_req, bytes_alloc; /* totals over every allocation seen */
	/*
	 * A new allocation at an address still live here: the kernel freed it where no event
	 * reached us (a free path without a tracepoint, or an event lost). The old one is
	 * dropped, not reported as a leak.
	 */
	uint64_t missed_frees;
	uint64_t untracked; /* the BPF table was full: the free would not be seen, not kept */
	/* with a pid filter: made in an interrupt on a target's CPU, not the target's: not kept */
	uint64_t interrupt_skipped;
};

/*
 * A slab cache by name; kmalloc allocations have no cache in their event and are grouped by
 * size class as kmalloc-<bytes>.
 */
struct kmodel_cache {
	char name[HT_KCACHE_LEN + 8];
	struct kmodel_counts c;
};

struct kmodel;

struct kmodel_hooks {
	void (*alloc)(void *ctx, const struct kmodel_alloc *a);
	void (*free)(void *ctx, const struct kmodel_alloc *a, uint64_t ts_ns);
	void *ctx;
};

struct kmodel *kmodel_new(void);
void kmodel_free(struct kmodel *m);
void kmodel_set_hooks(struct kmodel *m, const struct kmodel_hooks *h);
/* Applies a valid HT_REC_KMEM record. */
void kmodel_apply(struct kmodel *m, const struct ht_kmem *rec);
/* Counts an allocation record as interrupt_skipped instead of applying it. */
void kmodel_skip_interrupt(struct kmodel *m, const struct ht_kmem *rec);
/* Has any kernel-allocator record been applied? */
bool kmodel_seen(const struct kmodel *m);
const struct kmodel_counts *kmodel_kind_counts(const struct kmodel *m, unsigned kind);
size_t kmodel_ncaches(const struct kmodel *m);
const struct kmodel_cache *kmodel_cache_at(const struct kmodel *m, size_t i);
/* Iterates live allocations: the next from *pos, or NULL at the end. */
const struct kmodel_alloc *kmodel_next(const struct kmodel *m, size_t *pos);
const char *ht_kalloc_name(unsigned kind);

#endif
