/* SPDX-License-Identifier: GPL-2.0-only */
/* hist's report, as text and as JSON. */
#ifndef HT_DISTS_OUT_H
#define HT_DISTS_OUT_H

#include <stdbool.h>
#include "model/dists.h"
#include "model/model.h"
#include "output/json.h"
#include "report/kreport.h"
#include "symbols/symbolize.h"

/* What the report reads and how much of it to show. */
struct dists_out {
	struct model *model;
	struct dists *dists;
	struct symbolizer *sym; /* --by-stack */
	struct kreport *kr;
	struct khists *kh;
	bool by_stack;
	unsigned top, stack_depth;
	bool kernel_only; /* no user processes */
	bool kernel;	  /* the kernel's distributions */
};

void dists_out_text(const struct dists_out *o);
void dists_out_json(const struct dists_out *o, struct json *j);

#endif
