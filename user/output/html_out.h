/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The leaks report as one self-contained HTML page: per process a flame graph of its stacks
 * (live or allocated, bytes or counts; click to zoom, search) and a table of call sites, with
 * the losses. The page's script and style are built into heaptrail; it loads nothing.
 */
#ifndef HT_HTML_OUT_H
#define HT_HTML_OUT_H

#include <stdint.h>
#include <stdio.h>
#include "model/births.h"
#include "model/dists.h"
#include "model/model.h"
#include "model/space.h"
#include "report/kreport.h"
#include "report/leaks.h"
#include "symbols/symbolize.h"

struct html_out {
	const struct model *model;
	struct leaks *leaks; /* live bytes and allocations per stack at the end */
	struct dists *dists; /* bytes and allocations over the run, per stack */
	/* when each stack's memory was allocated: the page selects a time range (NULL: no range) */
	const struct births *births;
	/* heap, live, mapped and resident bytes over time, the chart the range is chosen on */
	const struct space *space;
	/* -k: the kernel's outstanding allocations, one more graph (NULL: none) */
	struct kreport *kr;
	struct symbolizer *sym;
	unsigned stack_depth;
	int argc; /* heaptrail's own command line, shown in the page */
	char **argv;
	const char *input; /* -i: the recording; NULL: traced live on this kernel */
};

/* Writes the page at now: 0, or -1 when out of memory. */
int html_out_write(FILE *f, const struct html_out *o, uint64_t now);

#endif
