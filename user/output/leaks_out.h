/* SPDX-License-Identifier: GPL-2.0-only */
/* The leaks report as text and as JSON (one object per report, JSON Lines). */
#ifndef HT_LEAKS_OUT_H
#define HT_LEAKS_OUT_H

#include <stdbool.h>
#include <stdint.h>
#include "model/model.h"
#include "output/json.h"
#include "report/kreport.h"
#include "report/leaks.h"
#include "symbols/symbolize.h"

/* One report: what it reads and how much of it to show. */
struct leaks_out {
	struct model *model;
	struct leaks *leaks; /* the sums; remembered for the next report when interval */
	struct symbolizer *sym;
	struct kreport *kr;
	unsigned top, stack_depth;
	bool kernel_only; /* no user processes */
	bool kernel;	  /* the kernel section */
	bool interval;	  /* a periodic report (--interval): numbered, with growth */
	unsigned report;  /* its number */
};

void leaks_out_text(const struct leaks_out *o, uint64_t now);
void leaks_out_json(const struct leaks_out *o, struct json *j, uint64_t now);
/* A process's identity, how it ended, and its totals (the JSON report's, the HTML page's). */
void leaks_out_json_proc(struct json *j, const struct model_proc *p);

#endif
