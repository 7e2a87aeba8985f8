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
#include "output/json.h"
#include "model/kmodel.h"
#include "symbols/ksyms.h"
#include "symbols/slabs.h"
#include "model/model.h"

struct kreport {
	struct kmodel *km;
	struct ksyms *ks;
	struct slabs *sl; /* merged slab caches, NULL: not shown */
	struct model *m;  /* where kernel stacks are kept */
	unsigned top, stack_depth;
	uint64_t min_age_ns;
	bool ksyms_tried, slabs_tried;
};

/*
 * Makes kr's tables, kernel stacks kept in m; -1 out of memory (kreport_fini frees what was
 * made). from_file: a recording brings its own merged-slab table, or none.
 */
int kreport_init(struct kreport *kr, struct model *m, bool from_file);
void kreport_fini(struct kreport *kr);
/*
 * Follows the records a kernel report needs: kernel allocations and kallsyms text. Call after
 * the model has seen rec (kernel stacks are kept there).
 */
void kreport_follow(struct kreport *kr, const struct ht_hdr *rec);
void kreport_leaks_text(struct kreport *kr, FILE *out, uint64_t now);
void kreport_leaks_json(struct kreport *kr, struct json *j, uint64_t now);

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
void kreport_hists_text(struct khists *h, struct kreport *kr, FILE *out);
/* Appends histogram objects to the open "histograms" array. */
void kreport_hists_json(struct khists *h, struct kreport *kr, struct json *j);
/* The "kmem_waste" array: requested vs allocated bytes per cache. */
void kreport_hists_json_waste(struct kreport *kr, struct json *j);

#endif
