/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the reports that symbolize share: the module lists of the processes, followed from the
 * records while they live (their text and JSON forms: output/stack_out.h).
 */
#ifndef HT_REPORT_H
#define HT_REPORT_H

#include "heaptrail.h"
#include "model/dists.h"
#include "model/model.h"
#include "symbols/symbolize.h"

/* leaks_true_frames_fn for a symbolizer (ctx): symbolize_true_frames of the stack. */
uint32_t report_true_frames(void *sym, const struct model_proc *p, const struct model_stack *st);
/*
 * At a process's exit (rec an EXIT record, after model_apply()): its module list keeps only
 * what the stacks of its live allocations need (symbolize_retain), and those of what it
 * allocated when the report shows that too (d, else NULL): freed since, their frames must
 * still be told true (symbolize_true_frames).
 */
void report_retain_leaked(struct symbolizer *sym, const struct model *m, const struct dists *d,
			  const struct ht_hdr *rec);
/*
 * Follows module lists: from the source's maps snapshots, when a stack has a frame outside the
 * list; a forked child gets its parent's, which it shares at fork. Call after model_apply()
 * with every record.
 */
void report_follow_modules(struct symbolizer *sym, const struct model *m, const struct ht_hdr *rec);

/*
 * model_set_internal's question for a symbolizer: does addr lie in code of the allocator
 * libraries, libc, libstdc++ (whose exception handling frees what operator new allocated for
 * it) or one that --lib named? ctx: a struct report_allocator_code.
 */
struct report_allocator_code {
	struct symbolizer *sym;
	const char *const *libs; /* --lib */
	int nlibs;
};
bool report_is_allocator_code(void *ctx, const struct model_proc *p, uint64_t addr);

#endif
