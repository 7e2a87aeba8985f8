/* SPDX-License-Identifier: GPL-2.0-only */
/* Symbolized user stacks and frames, as text lines and as JSON. */
#ifndef HT_STACK_OUT_H
#define HT_STACK_OUT_H

#include <stdint.h>
#include "model/model.h"
#include "output/json.h"
#include "symbols/symbolize.h"

/* How a captured stack ends short of its root, as every form of the report says it. */
enum stack_out_end {
	STACK_OUT_WHOLE,
	STACK_OUT_CUT_FP,    /* the frame-pointer walk read something not a return address */
	STACK_OUT_TRUNCATED, /* the capture stopped at --stack-depth */
	STACK_OUT_CUT_CFI,   /* the call-frame walk found no rule for the next frame */
};
enum stack_out_end stack_out_end_of(const struct model_stack *st, uint32_t true_frames,
				    unsigned depth_limit);

void stack_out_text_frame(const struct sym_frame *f, int depth);
/* Every frame of a stack (inlined ones expanded), noting truncation at depth frames. */
void stack_out_text(struct symbolizer *sym, const struct model *m, const struct model_proc *p,
		    uint32_t stack, unsigned depth);
void stack_out_json_frame(struct json *j, const struct sym_frame *f);
/* "frames": [...], and "stack_lost" or "truncated" when so. */
void stack_out_json(struct json *j, struct symbolizer *sym, const struct model *m,
		    const struct model_proc *p, uint32_t stack, unsigned depth);

#endif
