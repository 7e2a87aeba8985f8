// SPDX-License-Identifier: GPL-2.0-only
/* Page faults (batched per CPU, or one record each) and RSS changes. */
#include "shared.h"

struct page_fault_ctx {
	struct trace_entry ent;
	unsigned long address;
	unsigned long ip;
	unsigned long error_code;
};

SEC("tracepoint/exceptions/page_fault_user")
int page_fault_user(struct page_fault_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid(), now;
	struct ht_fault_entry *e;
	struct ht_faults *b;
	struct ht_fault *rec;
	__u32 n;

	if (!target_flags(id >> 32))
		return 0;
	now = bpf_ktime_get_ns();
	if (!fault_batching) {
		rec = reserve(HT_REC_FAULT, sizeof(*rec), id, now, 0);
		if (!rec)
			return 0;
		rec->address = ctx->address;
		rec->ip = ctx->ip;
		rec->error_code = ctx->error_code;
		bpf_ringbuf_submit(rec, wakeup_flags());
		return 0;
	}
	b = bpf_map_lookup_elem(&fault_batch, &(__u32){ 0 });
	if (!b)
		return 0;
	if (b->n && (b->hdr.tid != (__u32)id || b->n >= HT_FAULT_BATCH ||
		     now - b->hdr.ts_ns > 0xffffffffull))
		faults_send(b);
	if (!b->n) {
		b->hdr.flags = 0;
		b->hdr.ts_ns = now;
		b->hdr.pid = id >> 32;
		b->hdr.tid = (__u32)id;
		b->pad0 = 0;
	}
	n = b->n;
	if (n >= HT_FAULT_BATCH)
		return 0;
	e = &b->e[n];
	e->address = ctx->address;
	e->ip = ctx->ip;
	e->dt_ns = (__u32)(now - b->hdr.ts_ns);
	e->error_code = (__u32)ctx->error_code;
	b->n = n + 1;
	return 0;
}

/* A thread switched out: its faults go now, so that none waits on a CPU it left. */
SEC("tp_btf/sched_switch")
int BPF_PROG(fault_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	faults_flush_for(BPF_CORE_READ(prev, pid));
	return 0;
}

/*
 * rss_stat can be raised by a task of another mm (reclaim, a process reading our memory); curr
 * says whether it was ours. Only events of the current mm are attributed: the pid of any other
 * would be a guess.
 */
SEC("tracepoint/kmem/rss_stat")
int rss_stat(struct trace_event_raw_rss_stat *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ht_rss *rec;

	if (!ctx->curr || !target_flags(id >> 32))
		return 0;
	rec = reserve(HT_REC_RSS, sizeof(*rec), id, bpf_ktime_get_ns(), 0);
	if (!rec)
		return 0;
	rec->member = ctx->member;
	rec->curr = ctx->curr;
	rec->size = ctx->size;
	bpf_ringbuf_submit(rec, wakeup_flags());
	return 0;
}
