/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel part of `leaks -k` and `hist -k`: outstanding kernel allocations by stack, per
 * allocator and per slab cache; size, waste, page-order and GFP-flag distributions.
 */
#ifndef HT_KREPORT_H
#define HT_KREPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "model/hist.h"
#include "model/kmodel.h"
#include "symbols/ksyms.h"
#include "symbols/slabs.h"
#include "model/model.h"

struct kreport {
	struct kmodel *km; /* the model's kernel side */
	struct ksyms *ks;
	struct slabs *sl; /* merged slab caches, NULL: not shown */
	struct model *m;  /* where kernel stacks are kept */
	unsigned top, stack_depth;
	uint64_t min_age_ns;
	bool ksyms_tried, slabs_tried;
};

/*
 * Makes kr's tables and has m keep kernel allocations (their stacks are kept there too), kr
 * telling it which came from interrupts; -1 out of memory (kreport_fini frees what was made).
 * kr must stay where it is while m lives. from_file: a recording brings its own merged-slab
 * table, or none.
 */
int kreport_init(struct kreport *kr, struct model *m, bool from_file);
void kreport_fini(struct kreport *kr);
/* Follows the kernel's symbols and merged slab caches, from their records (a recording's). */
void kreport_follow_symbols(struct kreport *kr, const struct ht_hdr *rec);
/* One group of outstanding kernel allocations: same allocator, cache and stack (or call site). */
struct kreport_group {
	uint8_t kind;
	uint16_t cache;
	uint64_t stack_id; /* 0: grouped by call site */
	uint64_t call_site;
	uint64_t bytes, allocs;
	uint64_t oldest_ns;
};

/*
 * Outstanding allocations at least min_age_ns old at now, grouped, largest first (malloc'ed,
 * NULL when none); their total bytes and count.
 */
struct kreport_group *kreport_groups(struct kreport *kr, uint64_t now, size_t *n, uint64_t *bytes,
				     uint64_t *allocs);
/* Was the stack's allocation made in an interrupt? (remembered in the model's stack) */
bool kreport_stack_in_interrupt(struct kreport *kr, uint64_t stack_id);
/* A kernel frame: its address, symbol (NULL: unknown), offset and module. */
typedef void (*kreport_frame_fn)(void *ctx, uint64_t addr, const char *sym, uint64_t off,
				 const char *module);
void kreport_frame(struct kreport *kr, uint64_t addr, kreport_frame_fn fn, void *ctx);
/* The frames of a kernel stack worth showing (not the tracing machinery's), innermost first. */
void kreport_frames(struct kreport *kr, uint64_t stack_id, kreport_frame_fn fn, void *ctx);
/* From a model mark hook: the kernel's live allocations keep their stacks, which m holds. */
void kreport_keep_stacks(const struct kreport *kr, struct model *m);

/* The merged slab caches (live, or the recording's); NULL when not known. */
struct slabs *kreport_slabs(struct kreport *kr);
/* A cache's name by kmodel index, NULL for KMODEL_NO_CACHE. */
const char *kreport_cache_name(struct kreport *kr, uint16_t cache);
/* What a cache's size classes gave beyond what was asked, in percent. */
double kreport_waste_pct(const struct kmodel_counts *c);

/* hist -k: distributions fed from kmodel hooks */
struct khists {
	struct hist size[HT_KA_MAX]; /* bytes asked for, per allocator */
	struct hist lifetime;	     /* of kernel allocations freed while traced */
	struct hist order;	     /* pages: allocation order */
	struct hist *cache_size;     /* per kmodel cache index */
	size_t ncaches;
	struct {
		const char *name;
		uint64_t count;
	} gfp[64];
	size_t ngfp;
	uint64_t step; /* --linear, 0: log2 */
};

void kreport_hists_init(struct khists *h, uint64_t linear_step);
void kreport_hists_free(struct khists *h);
/* Installs the hooks on kr->km that fill h. */
void kreport_hists_attach(struct khists *h, struct kreport *kr);
/* The GFP flag counts, most frequent first. */
void kreport_hists_sort_gfp(struct khists *h);

#endif
