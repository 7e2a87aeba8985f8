// SPDX-License-Identifier: GPL-2.0-only
/* Module-list tracking and symbolized stacks, shared by the leaks and hist reports. */
#include <inttypes.h>
#include <stdio.h>
#include "report/report.h"

void report_follow_modules(struct symbolizer *sym, const struct model *m, const struct ht_hdr *rec)
{
	const struct model_proc *p, *parent;

	switch (rec->type) {
	case HT_REC_STACK:
		p = model_proc_live(m, rec->pid);
		if (p)
			symbolize_cover(sym, p->pid, p->start_ns,
					(const uint64_t *)((const struct ht_stack *)rec)->frames,
					((const struct ht_stack *)rec)->nframes);
		break;
	case HT_REC_MAPS: /* the source's snapshots, live or recorded */
		p = model_proc_live(m, rec->pid);
		if (p)
			symbolize_add_maps(sym, p->pid, p->start_ns,
					   ((const struct ht_maps *)rec)->text,
					   ((const struct ht_maps *)rec)->len);
		break;
	case HT_REC_FORK:
		p = model_proc_live(m, ((const struct ht_fork *)rec)->child_pid);
		parent = model_proc_live(m, rec->pid);
		if (p && parent)
			symbolize_inherit(sym, p->pid, p->start_ns, parent->pid, parent->start_ns);
		break;
	}
}

void report_text_frame(const struct sym_frame *f, int depth)
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

void report_text_stack(struct symbolizer *sym, const struct model *m, const struct model_proc *p,
		       uint32_t stack, unsigned depth_limit)
{
	const struct model_stack *st = stack == MODEL_NO_STACK ? NULL : model_stack(m, stack);
	struct sym_frame frames[REPORT_SYM_FRAMES];
	int depth = 0;

	if (!st || !st->frames) {
		printf("    (stack not captured)\n");
		return;
	}
	for (uint32_t i = 0; i < st->nframes; i++) {
		int n = symbolize_resolve(sym, p->pid, p->start_ns, st->frames[i], frames,
					  REPORT_SYM_FRAMES);

		for (int k = 0; k < n; k++)
			report_text_frame(&frames[k], depth++);
	}
	if (st->nframes >= depth_limit)
		printf("    ... (truncated at --stack-depth %u)\n", depth_limit);
}

void report_json_frame(struct json *j, const struct sym_frame *f)
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

void report_json_frames(struct json *j, struct symbolizer *sym, const struct model *m,
			const struct model_proc *p, uint32_t stack, unsigned depth_limit)
{
	const struct model_stack *st = stack == MODEL_NO_STACK ? NULL : model_stack(m, stack);
	struct sym_frame frames[REPORT_SYM_FRAMES];

	json_key(j, "frames");
	json_array_begin(j);
	for (uint32_t i = 0; st && st->frames && i < st->nframes; i++) {
		int n = symbolize_resolve(sym, p->pid, p->start_ns, st->frames[i], frames,
					  REPORT_SYM_FRAMES);

		for (int k = 0; k < n; k++)
			report_json_frame(j, &frames[k]);
	}
	json_array_end(j);
	if (!st || !st->frames)
		json_kv_bool(j, "stack_lost", true);
	else if (st->nframes >= depth_limit)
		json_kv_bool(j, "truncated", true); /* the capture stopped at --stack-depth */
}
