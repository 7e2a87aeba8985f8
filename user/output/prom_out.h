/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The model as Prometheus metrics: the text exposition format (0.0.4) or OpenMetrics 1.0, per
 * process labelled pid, comm and cgroup, for `heaptrail serve`'s /metrics.
 */
#ifndef HT_PROM_OUT_H
#define HT_PROM_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "model/model.h"
#include "model/space.h"
#include "report/kreport.h"

struct prom_out {
	const struct model *model;
	const struct space *space; /* heap, mapped, RSS and faults; NULL: not shown */
	struct kreport *kr;	   /* -k: kernel allocations per allocator; NULL: none */
	size_t top;		   /* processes labelled: the largest by live bytes */
	/* p's cgroup path ("" when not known): the label that tells containers apart */
	const char *(*cgroup)(void *ctx, const struct model_proc *p);
	void *ctx;
	uint64_t forgotten; /* processes dropped after --retain */
	/* heaptrail's own process */
	double cpu_seconds, start_time_seconds;
	uint64_t rss_bytes;
	uint64_t heap_bytes;	/* handed out by its allocator (0: not known) */
	uint64_t symbols_bytes; /* its symbolizer's tables */
};

/* Content types of the two forms. */
#define PROM_TEXT_TYPE	      "text/plain; version=0.0.4; charset=utf-8"
#define PROM_OPENMETRICS_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Whether a scraper's Accept header asks for OpenMetrics (Prometheus does). */
bool prom_out_wants_openmetrics(const char *accept);
/* Writes every metric: 0, or -1 when f failed. */
int prom_out_write(FILE *f, const struct prom_out *o, bool openmetrics);

#endif
