/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What every report shares: following the module lists of the processes while they live, and
 * printing symbolized stacks and frames as text or JSON.
 */
#ifndef HT_REPORT_H
#define HT_REPORT_H

#include "heaptrail.h"
#include "output/json.h"
#include "model/model.h"
#include "symbols/symbolize.h"

#define REPORT_SYM_FRAMES 16 /* frames one address can expand to (inlining) */

/*
 * Reads module lists while processes live: at exec, attach and holds, when a stack has a frame
 * outside the list; a forked child gets its parent's, which it shares at fork. Call after
 * model_apply() with every record.
 */
void report_follow_modules(struct symbolizer *sym, const struct model *m, const struct ht_hdr *rec);

void report_text_frame(const struct sym_frame *f, int depth);
/* Every frame of a stack (inlined ones expanded), noting truncation at depth frames. */
void report_text_stack(struct symbolizer *sym, const struct model *m, const struct model_proc *p,
		       uint32_t stack, unsigned depth);
void report_json_frame(struct json *j, const struct sym_frame *f);
/* "frames": [...], and "stack_lost" or "truncated" when so. */
void report_json_frames(struct json *j, struct symbolizer *sym, const struct model *m,
			const struct model_proc *p, uint32_t stack, unsigned depth);

#endif
