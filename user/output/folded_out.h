/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Folded stacks, the input of flamegraph.pl and speedscope: one line per stack, its frames
 * root first joined by ';', then a space and a positive integer (bytes or allocations).
 */
#ifndef HT_FOLDED_OUT_H
#define HT_FOLDED_OUT_H

#include <stdint.h>
#include <stdio.h>
#include "model/dists.h"
#include "model/model.h"
#include "report/leaks.h"
#include "symbols/symbolize.h"

enum folded_metric {
	FOLDED_LIVE_BYTES,  /* bytes still allocated at the end, per stack */
	FOLDED_LIVE_ALLOCS, /* allocations still live at the end */
	FOLDED_ALLOC_BYTES, /* bytes allocated over the whole run, freed or not */
	FOLDED_METRICS,
};
extern const char *const folded_metric_names[FOLDED_METRICS];

struct folded_out {
	const struct model *model;
	struct leaks *leaks; /* the live metrics */
	struct dists *dists; /* FOLDED_ALLOC_BYTES: allocation sizes per stack */
	struct symbolizer *sym;
	enum folded_metric metric;
	unsigned stack_depth;
};

/*
 * Every process's stacks at now, each line's root frame "comm (pid)": lines that fold to the
 * same frames are summed. 0, or -1 when out of memory.
 */
int folded_out_write(FILE *f, const struct folded_out *o, uint64_t now);

#endif
