/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Sampled mode (--sample-bytes): which allocations are sampled, the table that follows every
 * live allocation to its free with its size, and each process image's exact totals. The
 * allocator probes (alloc.bpf.c) and the process lifecycle (process.bpf.c) use it.
 */
#ifndef HT_BPF_SAMPLE_H
#define HT_BPF_SAMPLE_H

#include "shared.h"

/*
 * A process image's generation: unique among the images heaptrail sees (its tgid, and the
 * time it got one to the nanosecond, modulo 73 minutes), without an atomic that returns a value
 * (Linux 5.12). Never 0.
 */
static __always_inline __u64 sample_gen(__u32 tgid, __u64 now)
{
	return ((__u64)tgid << 42) | (now & ((1ull << 42) - 1)) | 1;
}

/* A gap between samples: one of the quantiles userspace computed, at random. */
static __always_inline __s64 sample_gap(void)
{
	return (__s64)sample_gaps[bpf_get_prandom_u32() & (HT_SAMPLE_GAPS - 1)];
}

/*
 * Whether an allocation of size bytes is sampled: when it reaches the point where the thread's
 * countdown runs out. The gaps between such points are exponential, and so memoryless: an
 * allocation of s bytes is sampled with probability 1 - exp(-s/N) whatever came before it,
 * which is what userspace divides by (tcmalloc and Go sample the same way).
 */
static __always_inline bool sample_take(struct thread_state *st, __u64 size)
{
	if (!st->sample_armed) {
		st->sample_left = sample_gap();
		st->sample_armed = 1;
	}
	if (size < (__u64)st->sample_left) {
		st->sample_left -= (__s64)size;
		return false;
	}
	st->sample_left = sample_gap();
	return true;
}

/* a * b, or 0 when it overflows (the call then fails) */
static __always_inline __u64 sample_array_size(__u64 a, __u64 b)
{
	__u64 limit = ~0ull;

	/* hidden from clang, which would otherwise test it with a 128-bit multiply BPF lacks */
	asm volatile("" : "+r"(limit));
	if (b && a > limit / b)
		return 0;
	return a * b;
}

/* The bytes an allocator call asks for, as the model reads them (user/model/model.c). */
static __always_inline __u64 sample_size(__u32 fn, const __u64 *args)
{
	switch (fn) {
	case HT_FN_PVALLOC:
		return (args[0] + 4095) & ~4095ull;
	case HT_FN_CALLOC:
		return sample_array_size(args[0], args[1]);
	case HT_FN_ALIGNED_ALLOC:
	case HT_FN_MEMALIGN:
	case HT_FN_REALLOC:
		return args[1];
	case HT_FN_POSIX_MEMALIGN:
		return args[2];
	case HT_FN_REALLOCARRAY:
		return sample_array_size(args[1], args[2]);
	default: /* malloc, valloc, operator new */
		return args[0];
	}
}

/* The current image's totals, made at its first allocator call; NULL when there is no room. */
static __always_inline struct ht_sample_proc *sample_proc_get(__u32 tgid)
{
	struct ht_sample_proc *sp = bpf_map_lookup_elem(&sample_procs, &tgid);
	struct ht_sample_proc fresh = {};

	if (sp)
		return sp;
	fresh.gen = sample_gen(tgid, bpf_ktime_get_ns());
	bpf_map_update_elem(&sample_procs, &tgid, &fresh, BPF_NOEXIST);
	sp = bpf_map_lookup_elem(&sample_procs, &tgid);
	if (!sp)
		count_lost(HT_LOST_SAMPLE_TABLE);
	return sp;
}

/* The size of a mark: an inherited block this image freed (see sample_free). */
#define SAMPLE_FREED_MARK (~0ull)

/* A block became live. */
static __always_inline void sample_alloc(struct ht_sample_proc *sp, __u64 addr, __u64 size,
					 bool sampled, __u64 now)
{
	struct ht_sample_key k = { .gen = sp->gen, .addr = addr };
	struct ht_sample_live v = { .size = size, .ts_sampled = now << 1 | sampled }, *old;

	__sync_fetch_and_add(&sp->c.allocs, 1);
	__sync_fetch_and_add(&sp->c.alloc_bytes, size);
	if (!bpf_map_update_elem(&sample_live, &k, &v, BPF_NOEXIST)) {
		__sync_fetch_and_add(&sp->c.live_bytes, size);
		__sync_fetch_and_add(&sp->c.live_allocs, 1);
		return;
	}
	old = bpf_map_lookup_elem(&sample_live, &k);
	if (!old) {
		count_lost(HT_LOST_SAMPLE_TABLE); /* no room: its free will not be subtracted */
		return;
	}
	/*
	 * An inherited block's free marked here, or a block handed out again without a free we
	 * saw (the model replaces it the same way).
	 */
	if (old->size == SAMPLE_FREED_MARK) {
		__sync_fetch_and_add(&sp->c.live_bytes, size);
		__sync_fetch_and_add(&sp->c.live_allocs, 1);
	} else {
		__sync_fetch_and_add(&sp->c.live_bytes, size - old->size);
	}
	*old = v;
}

/*
 * A free of addr (not NULL): subtracts its block when it is live, here or inherited from the
 * image it was forked from (made there before the fork, and not freed since in either). Returns
 * whether the block was sampled: its free goes to userspace, which holds it.
 */
static __always_inline bool sample_free(struct ht_sample_proc *sp, __u64 addr)
{
	struct ht_sample_key k = { .gen = sp->gen, .addr = addr };
	struct ht_sample_live *v;
	__u64 size, ts_sampled;

	__sync_fetch_and_add(&sp->c.frees, 1);
	v = bpf_map_lookup_elem(&sample_live, &k);
	if (v) {
		size = v->size;
		ts_sampled = v->ts_sampled;
		/* the delete settles two threads freeing one block at once */
		if (bpf_map_delete_elem(&sample_live, &k) || size == SAMPLE_FREED_MARK)
			goto unknown; /* or a second free of an inherited block */
		__sync_fetch_and_add(&sp->c.live_bytes, -size);
		__sync_fetch_and_add(&sp->c.live_allocs, -1);
		return ts_sampled & 1;
	}
	if (!sp->parent_gen)
		goto unknown;
	k.gen = sp->parent_gen;
	v = bpf_map_lookup_elem(&sample_live, &k);
	if (!v || (v->ts_sampled >> 1) > sp->fork_ns)
		goto unknown;
	size = v->size;
	ts_sampled = v->ts_sampled;
	/*
	 * The parent's entry stays (it still holds its copy); the child marks the block freed in
	 * its own table, so that freeing it twice is not subtracted twice.
	 */
	k.gen = sp->gen;
	if (bpf_map_update_elem(&sample_live, &k,
				&(struct ht_sample_live){ .size = SAMPLE_FREED_MARK,
							  .ts_sampled = bpf_ktime_get_ns() << 1 },
				BPF_NOEXIST))
		goto unknown;
	__sync_fetch_and_add(&sp->c.live_bytes, -size);
	__sync_fetch_and_add(&sp->c.live_allocs, -1);
	return ts_sampled & 1;
unknown:
	__sync_fetch_and_add(&sp->c.unknown_frees, 1);
	return false;
}

/* A child image starts with its parent's live blocks, which it finds in the parent's table. */
static __always_inline void sample_fork(__u32 parent_tgid, __u32 child_tgid, __u64 now)
{
	struct ht_sample_proc *psp = bpf_map_lookup_elem(&sample_procs, &parent_tgid);
	struct ht_sample_proc child = {};

	if (!psp)
		return;
	child.gen = sample_gen(child_tgid, now);
	child.parent_gen = psp->gen;
	child.fork_ns = now;
	child.c.live_bytes = psp->c.live_bytes;
	child.c.live_allocs = psp->c.live_allocs;
	if (bpf_map_update_elem(&sample_procs, &child_tgid, &child, BPF_ANY))
		count_lost(HT_LOST_SAMPLE_TABLE);
}

/*
 * The image ends (exit, exec): its last totals go to userspace, which then sweeps what its
 * generation left in the table of live blocks. The delete settles which of several threads
 * ending at once sends them.
 */
static __always_inline void sample_proc_end(__u64 id, __u32 tgid)
{
	struct ht_sample_proc *sp = bpf_map_lookup_elem(&sample_procs, &tgid);
	struct ht_totals *rec;

	if (!sp)
		return;
	rec = reserve(HT_REC_TOTALS, sizeof(*rec), id, bpf_ktime_get_ns(), 0);
	if (rec) {
		rec->gen = sp->gen;
		rec->final = 1;
		rec->pad0 = 0;
		rec->c = sp->c;
	}
	if (bpf_map_delete_elem(&sample_procs, &tgid)) {
		if (rec)
			bpf_ringbuf_discard(rec, 0);
		return;
	}
	if (rec)
		bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP);
}

#endif
