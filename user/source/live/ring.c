// SPDX-License-Identifier: GPL-2.0-only
/*
 * The ring buffer: records checked and acted upon (targets), fault batches expanded, losses
 * turned into records, all handed to the consumer in order.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "record/event.h"
#include "source/live/tracer_int.h"
#include "util/say.h"

/* A batch of faults becomes the fault records it stands for, in their order. */
static void ring_expand_faults(struct tracer *t, const struct ht_faults *b)
{
	for (uint32_t i = 0; i < b->n && i < HT_FAULT_BATCH; i++) {
		struct ht_fault f = {
			.hdr = { .type = HT_REC_FAULT,
				 .size = sizeof(f),
				 .ts_ns = b->hdr.ts_ns + b->e[i].dt_ns,
				 .pid = b->hdr.pid,
				 .tid = b->hdr.tid },
			.address = b->e[i].address,
			.ip = b->e[i].ip,
			.error_code = b->e[i].error_code,
		};

		t->cb(t->cb_ctx, &f.hdr);
	}
}

static int ring_by_batch_ts(const void *a, const void *b)
{
	const struct ht_faults *x = *(const struct ht_faults *const *)a;
	const struct ht_faults *y = *(const struct ht_faults *const *)b;

	return x->hdr.ts_ns < y->hdr.ts_ns ? -1 : x->hdr.ts_ns > y->hdr.ts_ns;
}

/* At the end: the batches still waiting on each CPU, oldest first. */
void ring_drain_fault_batches(struct tracer *t)
{
	int ncpu = libbpf_num_possible_cpus(), n = 0;
	struct ht_faults *vals, **order;

	if (!t->opts.want_fault || !t->opts.fault_batching || ncpu <= 0)
		return;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	order = calloc((size_t)ncpu, sizeof(*order));
	if (vals && order &&
	    !bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.fault_batch), &(uint32_t){ 0 }, vals)) {
		for (int c = 0; c < ncpu; c++)
			if (vals[c].n)
				order[n++] = &vals[c];
		qsort(order, (size_t)n, sizeof(*order), ring_by_batch_ts);
		for (int i = 0; i < n; i++)
			ring_expand_faults(t, order[i]);
	}
	free(order);
	free(vals);
}

/*
 * Unwind tables follow the processes: read while one is held for its mappings, or at its first
 * stack, again when a walk was cut (a module mapped since), dropped at exec and exit.
 */
static void ring_unwind(struct tracer *t, const struct ht_hdr *rec)
{
	/*
	 * Tables serve the walks still to come: after a stop none matter, and reading them
	 * would delay the report (a process's first stack has its modules' tables compiled).
	 */
	if (!t->unwind || tracer_stopping(t))
		return;
	switch (rec->type) {
	case HT_REC_STACK:
		if (!(rec->flags & HT_F_KSTACK))
			unwind_on_stack(t->unwind, (pid_t)rec->pid, rec->flags, tracer_now_ns());
		break;
	case HT_REC_FORK:
		unwind_fork(t->unwind, (pid_t)rec->pid,
			    (pid_t)((const struct ht_fork *)rec)->child_pid);
		break;
	case HT_REC_HELD:
		/*
		 * At its exec the libraries are not mapped yet: its first allocation's hold reads
		 * them. A forked child has its parent's tables already, unless a module came since.
		 */
		if (rec->flags & HT_F_HELD_UNWIND)
			unwind_process(t->unwind, (pid_t)rec->pid);
		else if (!(rec->flags & HT_F_HELD_EXEC))
			unwind_ensure(t->unwind, (pid_t)rec->pid);
		break;
	case HT_REC_EXEC:
	case HT_REC_EXIT:
		unwind_forget(t->unwind, (pid_t)rec->pid);
		break;
	}
}

int ring_on_record(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;
	const char *why = ht_rec_problem(data, size);

	if (why) {
		say("dropping a malformed record from the kernel: %s", why);
		return 0;
	}
	if (((struct ht_hdr *)data)->type == HT_REC_FAULTS) {
		ring_expand_faults(t, data);
		return t->error;
	}
	targets_follow(t, data);
	ring_unwind(t, data);
	if (((struct ht_hdr *)data)->type == HT_REC_TOTALS && ((struct ht_totals *)data)->final)
		t->sample_ended = true; /* its blocks are left for sample_sweep */
	t->ring_records++;
	t->ring_bytes += size;
	if (((struct ht_hdr *)data)->type == HT_REC_STACK)
		t->ring_stack_bytes += size;
	if (((struct ht_hdr *)data)->type == HT_REC_KMEM &&
	    ((struct ht_kmem *)data)->op == HT_KOP_FREE)
		t->kmem_frees++;
	t->cb(t->cb_ctx, data);
	/* After the consumer, which may read the stopped process's mappings. */
	if (((struct ht_hdr *)data)->type == HT_REC_HELD) {
		uint64_t held_ns;

		guard_continue(t, data);
		/* the record's stamp is the kernel's monotonic clock, as ours */
		held_ns = tracer_now_ns() - ((struct ht_hdr *)data)->ts_ns;
		t->holds++;
		t->hold_ns += held_ns;
		if (held_ns > t->hold_max_ns)
			t->hold_max_ns = held_ns;
	}
	return t->error;
}

/*
 * New losses become lost records in the stream, so that no consumer can miss them. The
 * kernel's recursion counts cost one syscall per program: read every 200 ms (the loop polls
 * every 10), and at the end (final).
 */
void ring_report_losses(struct tracer *t, bool final)
{
	uint64_t lost[HT_LOST_MAX], now = tracer_now_ns();

	if (t->kmem && (final || now >= t->kmem_nested_next_ns)) {
		t->kmem_nested = kmem_nested_misses(t->kmem);
		t->kmem_nested_next_ns = now + 200 * 1000000ull;
	}
	if (t->kmem && final) {
		/* after the last read: what was sent and not read (sent since, or lost on the way) */
		uint64_t sent = __atomic_load_n(&t->skel->bss->kmem_frees_sent, __ATOMIC_RELAXED);

		t->kmem_undelivered = sent > t->kmem_frees ? sent - t->kmem_frees : 0;
		t->kmem_unseen = kmem_watch_unseen(t->kmem);
	}
	tracer_lost(t, lost);
	for (int k = 0; k < HT_LOST_MAX; k++) {
		uint64_t v = lost[k];
		struct ht_lost rec = {};

		if (v == t->lost_seen[k])
			continue;
		rec.hdr.type = HT_REC_LOST;
		rec.hdr.size = sizeof(rec);
		rec.hdr.ts_ns = tracer_now_ns();
		rec.kind = k;
		rec.count = v - t->lost_seen[k];
		t->lost_seen[k] = v;
		t->cb(t->cb_ctx, &rec.hdr);
	}
}

/* One poll of the ring buffer; -1 after saying why it failed. */
int ring_poll(struct tracer *t)
{
	int err = ring_buffer__poll(t->rb, POLL_MS);

	if (err < 0 && err != -EINTR) {
		say("reading the ring buffer: %s", strerror(-err));
		return -1;
	}
	return 0;
}
