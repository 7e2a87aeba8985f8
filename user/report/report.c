// SPDX-License-Identifier: GPL-2.0-only
/* Module lists followed from the records, for the reports that symbolize stacks. */
#include "report/report.h"

uint32_t report_true_frames(void *sym, const struct model_proc *p, const struct model_stack *st)
{
	return symbolize_true_frames(sym, p->pid, p->start_ns, st->frames, st->nframes);
}

void report_follow_modules(struct symbolizer *sym, const struct model *m, const struct ht_hdr *rec)
{
	const struct model_proc *p, *parent;

	switch (rec->type) {
	case HT_REC_STACK:
		p = model_proc_live(m, rec->pid);
		if (p) {
			const uint64_t *frames =
				(const uint64_t *)((const struct ht_stack *)rec)->frames;
			size_t n = ((const struct ht_stack *)rec)->nframes;

			symbolize_cover(sym, p->pid, p->start_ns, rec->ts_ns, frames, n);
			symbolize_warm(sym, p->pid, p->start_ns, frames, n);
		}
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
