/* SPDX-License-Identifier: GPL-2.0-only */
/* The timeline's pictures and tables: Perfetto (Chrome trace events), CSV and SVG. */
#ifndef HT_TIMELINE_OUT_H
#define HT_TIMELINE_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "model/space.h"

/* One series: (ts_ns, value) pairs. */
struct tl_series {
	const char *name;
	const char *unit; /* "bytes" or "count" */
	const uint64_t *pts;
	size_t n;
};

struct tl_process {
	uint32_t pid;
	const char *comm;
	uint64_t start_ns;
	const uint32_t *tids;
	size_t ntids;
	const struct tl_series *series;
	size_t nseries;
	const struct space_marker *markers;
	size_t nmarkers;
};

void timeline_out_perfetto(FILE *f, const struct tl_process *procs, size_t n);
void timeline_out_csv(FILE *f, const struct tl_process *procs, size_t n);
/* One chart per process, stacked; byte series only. */
void timeline_out_svg(FILE *f, const struct tl_process *procs, size_t n);

#endif
