/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What heaptrail's BPF programs share: every setting userspace fills in between open and load,
 * the maps more than one concern uses (the ring buffer, the targets, per-thread pairing state,
 * sent stacks, loss counters), and the helpers that reserve records, count losses and hold a
 * target. Each bpf/NAME.bpf.c includes it; shared.bpf.c alone defines what it declares (it sets
 * HT_SHARED_DEFINE), and libbpf's static linker joins them into one object and one skeleton.
 */
#ifndef HT_BPF_SHARED_H
#define HT_BPF_SHARED_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "heaptrail.h"

#ifdef HT_SHARED_DEFINE
#define HT_SHARED
#define HT_SETTING(type, name, value) const volatile type name = value
#else
#define HT_SHARED		      extern
#define HT_SETTING(type, name, value) extern const volatile type name
#endif

/* ---------------------------------------------------------------- settings */
/* Set by userspace between open and load, all of them here. */
HT_SETTING(bool, filter_targets, true);		    /* false with -a: every process */
HT_SETTING(__u32, self_pid, 0);			    /* heaptrail itself is never traced */
HT_SETTING(__u32, guard_pid, 0);		    /* nor its guard (user/source/live/guard.c) */
HT_SETTING(bool, capture_stacks, false);	    /* user stacks of allocations (leaks) */
HT_SETTING(bool, capture_free_stacks, false);	    /* and of frees (leaks --free-stacks) */
HT_SETTING(__u32, stack_depth, HT_MAX_STACK_DEPTH); /* --stack-depth */
/* --unwind: walk the processes in unwind_procs with their tables (bpf/unwind.h) */
HT_SETTING(bool, unwind_tables, false);
/* stop a target at its first stack until userspace has read its mappings (HT_TGT_NEED_MAPS) */
HT_SETTING(bool, hold_for_maps, false);
/*
 * Frees have return probes only when kernel events are traced: then the munmap or brk a free
 * makes is flagged as the allocator's. Otherwise a free is complete at its entry (one uretprobe
 * less per free, ~1 us here), and a free reached by a tail call from another free (operator
 * delete jumping to free) is told by the same stack pointer and return address.
 */
HT_SETTING(bool, free_returns, true);
/*
 * Stop a target at its exec, before the new program's first instruction (and so before ld.so
 * maps anything), so that userspace reads exactly the mappings the kernel made (timeline).
 */
HT_SETTING(bool, hold_at_exec, false);
/* Benchmarks' floor: the allocator probes only count their hits (leaks --floor). */
HT_SETTING(bool, floor_only, false);
HT_SHARED __u64 floor_hits; /* its hit count */
/*
 * Set by userspace once the allocator uprobes are shared by every process (-a, or since a
 * target first forked) or when there are none: until then a forked child is held until they
 * are (user/source/live/uprobes.c).
 */
HT_SHARED __u32 shared_probes;
/*
 * 0 while -a attaches the allocator probes to processes already running: a library's probes go
 * in one after another, and a call that straddles them (its entry seen and not its return, or
 * a block's allocation and not its free) would be mis-paired. Set once all are in: every call
 * that begins after that is seen whole. Targets of -p and -c are held while theirs go in.
 */
HT_SHARED __u32 probes_armed;
/* hist: the syscalls become histograms in BPF (syscalls.bpf.c), not records */
HT_SETTING(bool, sys_hist_only, false);
/* faults batched per CPU (timeline, hist, record) rather than streamed one record each */
HT_SETTING(bool, fault_batching, false);
/* where each kernel-function hook finds its values among its arguments, from BTF */
HT_SETTING(struct ht_hook_layout, hook_layout[HT_HOOK_MAX], {});
/* where each kernel-allocator tracepoint has its arguments, from BTF */
HT_SETTING(struct ht_ktp_layout, ktp_layout[HT_KTP_MAX], {});
/* kernel stacks of kernel allocations */
HT_SETTING(bool, kmem_stacks, false);
/* --sample-bytes: 0, or the mean bytes between sampled allocations (bpf/sample.h) */
HT_SETTING(__u64, sample_bytes, 0);
/* the gaps drawn between samples: quantiles of the exponential distribution of mean N */
HT_SETTING(__u64, sample_gaps[HT_SAMPLE_GAPS], {});

/* ---------------------------------------------------------------- shared maps and helpers */

/* Loss counters by enum ht_lost_kind; userspace reads them through the mmapped .bss. */
HT_SHARED __u64 lost[HT_LOST_MAX];
/* Kernel frees sent through the ring buffer: userspace checks it received as many. */
HT_SHARED __u64 kmem_frees_sent;

HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* --ringbuf-size */
} events SEC(".maps");

/* tgid -> HT_TGT_* flags. Forked children of targets are added here by the fork program. */
HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

/*
 * Holds (hold_current): the processes stopped now, struct ht_held_key -> 1, and the gate, one
 * __u32 that is 1 while heaptrail lives. Both are made by userspace before its guard forks, which keeps them
 * and continues every process in held once heaptrail is gone.
 */
HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, HT_HELD_MAX);
	__type(key, struct ht_held_key);
	__type(value, __u32);
} held SEC(".maps");

HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} hold_gate SEC(".maps");

/*
 * Per-thread pairing state. A thread is at most in one syscall at a time and allocator calls
 * never overlap a syscall of the same thread, so both halves share one entry: one lookup.
 */
struct thread_state {
	__u64 sys_args[6];
	__u64 sys_ts;
	__u32 sys_nr;	   /* enum ht_sys; 0 when no syscall is pending */
	__u32 alloc_depth; /* allocator calls on this thread's stack, outermost included */
	__u64 alloc_args[3];
	__u64 alloc_ts;
	__u64 alloc_cookie; /* the outermost call's function */
	__u64 alloc_sp;	   /* the outermost call's stack pointer at entry (at its return address) */
	__u64 alloc_ret;   /* and that return address */
	__u64 alloc_stack; /* its stack id, 0 if none */
	/* the last free emitted at entry, when frees have no return probe */
	__u64 free_sp, free_ret, free_cookie;
	/* sampled mode: bytes left before the next sample, once drawn (bpf/sample.h) */
	__s64 sample_left;
	__u64 alloc_size;    /* the outermost call's size */
	__u32 sample_armed;  /* sample_left was drawn */
	__u32 alloc_sampled; /* the outermost call is sampled */
};

HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct thread_state);
} threads SEC(".maps");

/*
 * Kernel-function hooks through kprobe/kretprobe pairs: the entry's values wait on a small
 * per-thread stack (do_mmap with MAP_FIXED calls the munmap path, so hooks nest).
 */
#define HOOK_STACK  4 /* a power of two: indexes are masked so that the verifier sees the bound */
#define HOOK_VALUES 5 /* start, len, end, prot, flags */

struct hook_frame {
	__u32 hook;
	__u32 pad;
	__u64 v[HOOK_VALUES];
};

struct hook_stack {
	__u32 depth;
	__u32 pad;
	struct hook_frame frames[HOOK_STACK];
};

HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct hook_stack);
} hook_pending SEC(".maps");

/*
 * The processes walked with the unwind tables (bpf/unwind.h): those userspace chose (--unwind),
 * their forked children from their first instruction (process_fork copies the parent's), none
 * after an exec or exit. Allocated per entry, so that -a on a busy machine costs what it has.
 */
HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ht_unwind_proc);
} unwind_procs SEC(".maps");

/*
 * Sampled mode: each traced process image's exact totals, and every live allocation of each with
 * its size, keyed by the image's generation (a new one at exec) so that userspace can sweep an
 * ended image's leftovers. The table of live blocks is preallocated: on churn an insert into it
 * took 200 ns per run against 340-390 allocated per entry (bpf_stats; the elements then come
 * back cache-cold), and its size is what it costs in cache misses too (1M entries: 340).
 */
HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ht_sample_proc);
} sample_procs SEC(".maps");

HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18); /* --sample-table-size */
	__type(key, struct ht_sample_key);
	__type(value, struct ht_sample_live);
} sample_live SEC(".maps");

/* Stack ids already sent to userspace (--stack-table-size), user and kernel alike. */
HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u8);
} stacks_sent SEC(".maps");

/*
 * Waking the consumer for every record costs an irq_work and a reschedule per event (measured:
 * most of the cost of a traced malloc/free pair once the probes are emulated). Records go in
 * silently while the buffer is under an eighth full; userspace polls every few milliseconds
 * anyway, and is woken when the buffer fills faster than that.
 */
static __always_inline __u64 wakeup_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
			       bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 8
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

static __always_inline void count_lost(enum ht_lost_kind kind)
{
	__sync_fetch_and_add(&lost[kind], 1);
}

/* Returns the HT_TGT_* flags that apply to the current process, 0 if it is not traced. */
static __always_inline __u32 target_flags(__u32 tgid)
{
	__u32 *flags;

	if (tgid == self_pid || tgid == guard_pid)
		return 0;
	if (!filter_targets)
		return HT_TGT_TRACED;
	flags = bpf_map_lookup_elem(&targets, &tgid);
	if (!flags)
		return 0;
	/* A command started by -c is traced from its exec on, not while it is still our fork. */
	if (*flags & HT_TGT_PENDING_EXEC)
		return 0;
	return *flags | HT_TGT_TRACED;
}

/* A record's room in the ring buffer; when it is full, the loss is counted as lost_kind. */
static __always_inline void *reserve_or_count(__u32 type, __u32 size, __u64 id, __u64 ts,
					      __u32 flags, enum ht_lost_kind lost_kind)
{
	struct ht_hdr *hdr = bpf_ringbuf_reserve(&events, size, 0);

	if (!hdr) {
		count_lost(lost_kind);
		return NULL;
	}
	hdr->type = type;
	hdr->size = size;
	hdr->flags = flags;
	hdr->ts_ns = ts;
	hdr->pid = id >> 32;
	hdr->tid = (__u32)id;
	return hdr;
}

static __always_inline void *reserve(__u32 type, __u32 size, __u64 id, __u64 ts, __u32 flags)
{
	return reserve_or_count(type, size, id, ts, flags, HT_LOST_RINGBUF);
}

static __always_inline struct thread_state *thread_state_get(__u32 tid)
{
	static const struct thread_state zero;
	struct thread_state *st;

	st = bpf_map_lookup_elem(&threads, &tid);
	if (st)
		return st;
	/* -EEXIST cannot happen (only this thread inserts its tid); a full map shows below. */
	bpf_map_update_elem(&threads, &tid, &zero, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&threads, &tid);
	if (!st)
		count_lost(HT_LOST_THREAD_STATE);
	return st;
}

/*
 * Faults are batched per CPU (timeline, hist, record: fault_batching), or streamed one record
 * each (trace). A batch holds one thread's faults; see struct ht_faults for when it is sent.
 */
HT_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ht_faults);
} fault_batch SEC(".maps");

static __always_inline void faults_send(struct ht_faults *b)
{
	__u32 n = b->n;

	if (!n)
		return;
	if (n > HT_FAULT_BATCH)
		n = HT_FAULT_BATCH;
	b->hdr.type = HT_REC_FAULTS;
	b->hdr.size = HT_FAULTS_HDR_SIZE + n * sizeof(b->e[0]);
	if (bpf_ringbuf_output(&events, b, HT_FAULTS_HDR_SIZE + (__u64)n * sizeof(b->e[0]),
			       wakeup_flags()))
		__sync_fetch_and_add(&lost[HT_LOST_RINGBUF], n);
	b->n = 0;
}

/* Sends this CPU's batch if it holds faults of thread tid: before that thread's next record. */
static __always_inline void faults_flush_for(__u32 tid)
{
	struct ht_faults *b;

	if (!fault_batching)
		return;
	b = bpf_map_lookup_elem(&fault_batch, &(__u32){ 0 });
	if (b && b->n && b->hdr.tid == tid)
		faults_send(b);
}

/*
 * Stops the current process (it happens on its way back to user mode) and tells userspace,
 * which continues it once it has read its mappings: a short-lived process would otherwise be
 * gone before userspace got there.
 *
 * No hold may outlive heaptrail. The process is entered in held before it is stopped, and the
 * gate is read after: the guard closes the gate before it continues what held lists, so
 * either it finds this entry (and its SIGCONT comes after our SIGSTOP, which it cancels), or
 * we find the gate closed and continue ourselves. A hold that cannot be entered or announced
 * is not made (counted).
 */
static __always_inline void hold_current_for(__u64 id, __u32 why)
{
	struct ht_held_key key = { .tgid = id >> 32, .ts_ns = bpf_ktime_get_ns() };
	__u32 one = 1, *gate;
	struct ht_hdr *rec;

	if (bpf_map_update_elem(&held, &key, &one, BPF_ANY)) {
		count_lost(HT_LOST_HOLD);
		return;
	}
	/*
	 * Sending takes the target's signal lock (a locked instruction: a full barrier on x86), so
	 * the entry is visible before the gate is read, as the guard's sweep reads held after its
	 * write of the gate and a fence.
	 */
	bpf_send_signal(19 /* SIGSTOP */);
	gate = bpf_map_lookup_elem(&hold_gate, &(__u32){ 0 });
	if (!gate || !*(volatile __u32 *)gate) {
		bpf_send_signal(18 /* SIGCONT */);
		bpf_map_delete_elem(&held, &key);
		return;
	}
	/* the record's stamp names the entry for userspace to delete */
	rec = reserve(HT_REC_HELD, sizeof(*rec), id, key.ts_ns, why);
	if (!rec) {
		bpf_send_signal(18 /* SIGCONT */);
		bpf_map_delete_elem(&held, &key);
		count_lost(HT_LOST_HOLD);
		return;
	}
	bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP);
}

/* A hold for the process's mappings (the HELD record's flags say why: 0, its first allocation). */
static __always_inline void hold_current(__u64 id)
{
	hold_current_for(id, 0);
}

/*
 * Walks the current stack (user or kernel, as bpf_get_stack's flags say) into b, at most
 * --stack-depth frames. Returns how many, 0 when the walk failed (counted).
 */
static __always_inline __u32 stack_walk(void *ctx, struct ht_stack *b, __u64 flags)
{
	__u32 size = stack_depth * 8, n;
	long bytes;

	if (size > sizeof(b->frames))
		size = sizeof(b->frames);
	bytes = bpf_get_stack(ctx, b->frames, size, flags);
	if (bytes <= 0) {
		count_lost(HT_LOST_STACK);
		return 0;
	}
	n = bytes / 8;
	return n > HT_MAX_STACK_DEPTH ? HT_MAX_STACK_DEPTH : n;
}

/* FNV-1a over a stack's frames: its id, never 0 (which means none). */
static __always_inline __u64 stack_hash(const __u64 *frames, __u32 n, __u64 seed)
{
	__u64 hash = seed;

	for (__u32 i = 0; i < HT_MAX_STACK_DEPTH; i++) {
		if (i >= n)
			break;
		hash = (hash ^ frames[i]) * 0x100000001b3ull;
	}
	return hash | 1;
}

/*
 * Sends the stack captured in b (n frames) unless its id was sent already; a stack that could
 * not be sent is counted and not remembered, so that a later capture sends it. Returns hash.
 */
static __always_inline __u64 stack_send(struct ht_stack *b, __u64 hash, __u32 n, __u32 flags,
					__u64 now, __u64 id, __u64 wake)
{
	if (bpf_map_lookup_elem(&stacks_sent, &hash))
		return hash;
	/*
	 * Every walk stops at HT_MAX_STACK_DEPTH, but a verifier may lose that bound on the way
	 * here (6.1's did, once a branch was added to the allocator programs): it is said again.
	 */
	if (n > HT_MAX_STACK_DEPTH)
		n = HT_MAX_STACK_DEPTH;
	b->hdr.type = HT_REC_STACK;
	b->hdr.size = HT_STACK_HDR_SIZE + n * 8;
	b->hdr.flags = flags;
	b->hdr.ts_ns = now;
	b->hdr.pid = id >> 32;
	b->hdr.tid = (__u32)id;
	b->stack_id = hash;
	b->nframes = n;
	b->pad0 = 0;
	if (bpf_ringbuf_output(&events, b, HT_STACK_HDR_SIZE + (__u64)n * 8, wake)) {
		count_lost(HT_LOST_RINGBUF);
		return hash;
	}
	bpf_map_update_elem(&stacks_sent, &hash, &(__u8){ 1 }, BPF_ANY);
	return hash;
}

#endif
