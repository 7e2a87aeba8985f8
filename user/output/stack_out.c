// SPDX-License-Identifier: GPL-2.0-only
/* Symbolized user stacks as text lines and as the JSON contract's "frames". */
#include <inttypes.h>
#include <stdio.h>
#include "output/stack_out.h"

void stack_out_text_frame(const struct sym_frame *f, int depth)
{
	printf("    #%-2d 0x%016" PRIx64 " ", depth, f->addr);
	if (f->sym)
		printf("%s%s", f->sym, f->inlined ? " [inlined]" : "");
	else
		printf("??");
	if (f->sym && !f->inlined)
		printf("+0x%" PRIx64, f->offset);
	if (f->file)
		printf(" (%s:%d)", f->file, f->line);
	printf(" %s\n", f->module);
}

enum stack_out_end stack_out_end_of(const struct model_stack *st, uint32_t true_frames,
				    unsigned depth_limit)
{
	if (true_frames < st->nframes)
		return STACK_OUT_CUT_FP;
	if (st->nframes >= depth_limit)
		return STACK_OUT_TRUNCATED;
	return st->walk_cut ? STACK_OUT_CUT_CFI : STACK_OUT_WHOLE;
}

void stack_out_text(struct symbolizer *sym, const struct model *m, const struct model_proc *p,
		    uint32_t stack, unsigned depth_limit)
{
	const struct model_stack *st = stack == MODEL_NO_STACK ? NULL : model_stack(m, stack);
	struct sym_frame frames[SYMBOLIZE_MAX_INLINED];
	int depth = 0;
	uint32_t true_frames;

	if (!st || !st->frames) {
		printf("    (stack not captured)\n");
		return;
	}
	true_frames = symbolize_true_frames(sym, p->pid, p->start_ns, st->frames, st->nframes);
	for (uint32_t i = 0; i < true_frames; i++) {
		int n = symbolize_resolve(sym, p->pid, p->start_ns, st->frames[i], frames,
					  SYMBOLIZE_MAX_INLINED);

		for (int k = 0; k < n; k++)
			stack_out_text_frame(&frames[k], depth++);
	}
	switch (stack_out_end_of(st, true_frames, depth_limit)) {
	case STACK_OUT_CUT_FP:
		printf("    ... (cut: the next frame is not a return address in this process's "
		       "code; a frame-pointer walk through code without frame pointers)\n");
		break;
	case STACK_OUT_TRUNCATED:
		printf("    ... (truncated at --stack-depth %u)\n", depth_limit);
		break;
	case STACK_OUT_CUT_CFI:
		printf("    ... (cut: no unwind rule for the next frame: code without call-frame "
		       "information, or mapped after the tables were read)\n");
		break;
	case STACK_OUT_WHOLE:
		break;
	}
}

void stack_out_json_frame(struct json *j, const struct sym_frame *f)
{
	json_object_begin(j);
	json_kv_addr(j, "addr", f->addr);
	json_key(j, "sym");
	if (f->sym)
		json_string(j, f->sym);
	else
		json_null(j);
	json_kv_string(j, "module", f->module);
	json_key(j, "file");
	if (f->file)
		json_string(j, f->file);
	else
		json_null(j);
	json_key(j, "line");
	if (f->line)
		json_u64(j, (uint64_t)f->line);
	else
		json_null(j);
	if (f->inlined)
		json_kv_bool(j, "inlined", true);
	json_object_end(j);
}

void stack_out_json(struct json *j, struct symbolizer *sym, const struct model *m,
		    const struct model_proc *p, uint32_t stack, unsigned depth_limit)
{
	const struct model_stack *st = stack == MODEL_NO_STACK ? NULL : model_stack(m, stack);
	struct sym_frame frames[SYMBOLIZE_MAX_INLINED];
	uint32_t true_frames = 0;

	if (st && st->frames)
		true_frames =
			symbolize_true_frames(sym, p->pid, p->start_ns, st->frames, st->nframes);
	json_key(j, "frames");
	json_array_begin(j);
	for (uint32_t i = 0; i < true_frames; i++) {
		int n = symbolize_resolve(sym, p->pid, p->start_ns, st->frames[i], frames,
					  SYMBOLIZE_MAX_INLINED);

		for (int k = 0; k < n; k++)
			stack_out_json_frame(j, &frames[k]);
	}
	json_array_end(j);
	if (!st || !st->frames) {
		json_kv_bool(j, "stack_lost", true);
		return;
	}
	switch (stack_out_end_of(st, true_frames, depth_limit)) {
	case STACK_OUT_CUT_FP:
	case STACK_OUT_CUT_CFI:
		json_kv_bool(j, "cut", true);
		break;
	case STACK_OUT_TRUNCATED:
		json_kv_bool(j, "truncated", true);
		break;
	case STACK_OUT_WHOLE:
		break;
	}
}
