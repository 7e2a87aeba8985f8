/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The leaks report as a pprof profile (profile.proto, gzipped), the shape of Go's heap profile:
 * alloc_objects, alloc_space, inuse_objects and inuse_space per stack, with each process's pid
 * and comm as labels, locations already symbolized (functions, files, lines, inlined frames);
 * with -k, the kernel's outstanding allocations too.
 */
#ifndef HT_PPROF_OUT_H
#define HT_PPROF_OUT_H

#include <stdint.h>
#include <stdio.h>
#include "model/dists.h"
#include "model/model.h"
#include "report/kreport.h"
#include "report/leaks.h"
#include "symbols/symbolize.h"

struct pprof_out {
	const struct model *model;
	struct leaks *leaks; /* inuse: what is live at the end */
	struct dists *dists; /* alloc: every allocation, by its size distribution per stack */
	struct symbolizer *sym;
	/*
	 * -k: outstanding kernel allocations as samples of their own, labelled with allocator and
	 * cache, their frames in a [kernel.kallsyms] (or [module]) mapping; inuse values only (the
	 * kernel model keeps allocation totals per allocator and cache, not per stack). NULL: none.
	 */
	struct kreport *kr;
	uint64_t duration_ns;
	uint32_t pid; /* only the processes of this pid (the live one, those exited); 0: all */
};

/* Writes the profile of every process at now: 0, or -1 after saying why. */
int pprof_out_write(FILE *f, const char *path, const struct pprof_out *o, uint64_t now);

#endif
