// SPDX-License-Identifier: GPL-2.0-only
/*
 * The leaks report as text and as JSON Lines: per process its counters, double frees and the
 * largest stacks (with their growth in --interval reports), the kernel section, the losses.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include "output/kreport_out.h"
#include "output/leaks_out.h"
#include "util/outpipe.h"
#include "output/stack_out.h"
#include "record/event.h"

static void leaks_out_status(const struct model_proc *p)
{
	if (!p->exited)
		printf("running");
	else if (p->exit_status < 0)
		printf("exited");
	else if (WIFSIGNALED(p->exit_status))
		printf("killed by SIG%s", sigabbrev_np(WTERMSIG(p->exit_status)) ?: "?");
	else
		printf("exited with %d", WEXITSTATUS(p->exit_status));
}

void leaks_out_text(const struct leaks_out *o, uint64_t now)
{
	const uint64_t *lost = model_lost(o->model);

	if (o->interval)
		printf("heaptrail leaks: report %u\n", o->report);
	if (model_sample_bytes(o->model))
		printf("sampled: one allocation per %" PRIu64 " bytes on average; process totals "
		       "are exact, stacks' bytes and allocations estimated (~)\n",
		       model_sample_bytes(o->model));
	for (size_t i = 0; !o->kernel_only && i < model_nprocs(o->model); i++) {
		const struct model_proc *p = model_proc_at(o->model, i);
		size_t n = 0, shown;
		struct leaks_stack *sums = leaks_stacks(o->leaks, p, now, &n);

		printf("pid %u (%s, ", p->pid, p->comm);
		if (p->ns_pid)
			printf("pid %u in its namespace, ", p->ns_pid);
		leaks_out_status(p);
		printf("): %" PRIu64 " bytes in %" PRIu64 " live allocations", p->live_bytes,
		       model_proc_live_allocs(p));
		if (p->sampled)
			printf("; %" PRIu64
			       " frees of addresses not live (unmatched, double or the "
			       "allocator's own), %" PRIu64 " failed allocations\n",
			       p->unmatched_frees, p->failed_allocs);
		else
			printf("; %" PRIu64 " unmatched frees, %" PRIu64 " double frees, %" PRIu64
			       " failed allocations\n",
			       p->unmatched_frees, p->double_frees, p->failed_allocs);
		for (uint64_t d = 0; d < p->double_free_kept; d++) {
			struct sym_frame f[SYMBOLIZE_MAX_INLINED];
			int k = symbolize_resolve(o->sym, p->pid, p->start_ns,
						  p->double_free[d].caller, f,
						  SYMBOLIZE_MAX_INLINED);

			printf("  double free of 0x%" PRIx64 " by tid %u at:\n",
			       p->double_free[d].addr, p->double_free[d].tid);
			if (p->double_free[d].stack != MODEL_NO_STACK)
				stack_out_text(o->sym, o->model, p, p->double_free[d].stack,
					       o->stack_depth);
			else
				stack_out_text_frame(&f[k - 1], 0);
		}
		shown = n < o->top ? n : o->top;
		for (size_t k = 0; k < shown; k++) {
			const char *est = p->sampled ? "~" : "";

			printf("  %s%" PRIu64 " bytes in %s%" PRIu64 " allocation%s", est,
			       sums[k].bytes, est, sums[k].allocs, sums[k].allocs == 1 ? "" : "s");
			if (o->interval)
				printf(" (%+" PRId64 " since the last report)", sums[k].growth);
			printf(" from:\n");
			if (sums[k].stack == MODEL_NO_STACK)
				printf("    (stack not captured)\n");
			else
				stack_out_text(o->sym, o->model, p, sums[k].stack, o->stack_depth);
		}
		if (n > shown)
			printf("  ... and %zu more stacks (--top)\n", n - shown);
		if (o->interval)
			leaks_remember(o->leaks, p, sums, n);
		else
			free(sums);
	}
	if (o->kernel)
		kreport_out_leaks_text(o->kr, stdout, now);
	printf("lost:");
	for (int k = 0; k < HT_LOST_MAX; k++)
		printf(" %s=%" PRIu64, ht_lost_kind_name(k), lost[k]);
	printf("\n");
	outpipe_flush(stdout); /* each --interval report as it is made */
}

/* A process's identity, how it ended, and its totals: the head of its object in the report. */
void leaks_out_json_proc(struct json *j, const struct model_proc *p)
{
	json_kv_u64(j, "pid", p->pid);
	json_kv_string(j, "comm", p->comm);
	json_kv_u64(j, "start_ns", p->start_ns);
	json_kv_bool(j, "exited", p->exited);
	if (p->exited && p->exit_status >= 0) {
		if (WIFSIGNALED(p->exit_status))
			json_kv_string(j, "signal", sigabbrev_np(WTERMSIG(p->exit_status)) ?: "?");
		else
			json_kv_s64(j, "exit_code", WEXITSTATUS(p->exit_status));
	}
	if (p->parent)
		json_kv_u64(j, "parent", p->parent);
	if (p->ns_pid)
		json_kv_u64(j, "ns_pid", p->ns_pid);
	json_kv_u64(j, "live_bytes", p->live_bytes);
	json_kv_u64(j, "live_allocs", model_proc_live_allocs(p));
	json_kv_bool(j, "sampled", p->sampled);
	json_kv_u64(j, "allocs", p->allocs);
	json_kv_u64(j, "alloc_bytes", p->alloc_bytes);
	json_kv_u64(j, "frees", p->frees);
	json_kv_u64(j, "failed_allocs", p->failed_allocs);
	json_kv_u64(j, "unmatched_frees", p->unmatched_frees);
	json_kv_u64(j, "double_frees", p->double_frees);
	json_kv_u64(j, "internal_frees", p->internal_frees);
}

void leaks_out_json(const struct leaks_out *o, struct json *j, uint64_t now)
{
	const uint64_t *lost = model_lost(o->model);

	json_object_begin(j);
	json_kv_u64(j, "ts_ns", now);
	if (o->interval)
		json_kv_u64(j, "report", o->report);
	/* 0: exact; else stacks' numbers are estimates from allocations sampled one per N bytes */
	json_kv_u64(j, "sample_bytes", model_sample_bytes(o->model));
	json_key(j, "processes");
	json_array_begin(j);
	for (size_t i = 0; !o->kernel_only && i < model_nprocs(o->model); i++) {
		const struct model_proc *p = model_proc_at(o->model, i);
		size_t n = 0;
		struct leaks_stack *sums = leaks_stacks(o->leaks, p, now, &n);

		json_object_begin(j);
		leaks_out_json_proc(j, p);
		json_key(j, "double_free");
		json_array_begin(j);
		for (uint64_t d = 0; d < p->double_free_kept; d++) {
			struct sym_frame f[SYMBOLIZE_MAX_INLINED];
			int k = symbolize_resolve(o->sym, p->pid, p->start_ns,
						  p->double_free[d].caller, f,
						  SYMBOLIZE_MAX_INLINED);

			json_object_begin(j);
			json_kv_addr(j, "addr", p->double_free[d].addr);
			json_kv_u64(j, "tid", p->double_free[d].tid);
			json_kv_u64(j, "ts_ns", p->double_free[d].ts_ns);
			json_key(j, "caller");
			stack_out_json_frame(j, &f[k - 1]);
			if (p->double_free[d].stack != MODEL_NO_STACK)
				stack_out_json(j, o->sym, o->model, p, p->double_free[d].stack,
					       o->stack_depth);
			json_object_end(j);
		}
		json_array_end(j);
		json_key(j, "stacks");
		json_array_begin(j);
		for (size_t k = 0; k < n && k < o->top; k++) {
			json_object_begin(j);
			json_kv_u64(j, "bytes", sums[k].bytes);
			json_kv_u64(j, "allocs", sums[k].allocs);
			if (o->interval)
				json_kv_s64(j, "growth_bytes", sums[k].growth);
			stack_out_json(j, o->sym, o->model, p, sums[k].stack, o->stack_depth);
			json_object_end(j);
		}
		json_array_end(j);
		json_kv_u64(j, "stacks_total", n);
		json_object_end(j);
		if (o->interval)
			leaks_remember(o->leaks, p, sums, n);
		else
			free(sums);
	}
	json_array_end(j);
	if (o->kernel) {
		json_key(j, "kernel");
		kreport_out_leaks_json(o->kr, j, now);
	}
	json_key(j, "lost");
	json_object_begin(j);
	for (int k = 0; k < HT_LOST_MAX; k++)
		json_kv_u64(j, ht_lost_kind_name(k), lost[k]);
	json_object_end(j);
	json_object_end(j);
	json_line_end(j);
	outpipe_flush(stdout); /* each --interval report as it is made */
}
