// SPDX-License-Identifier: GPL-2.0-only
/*
 * Allocator uprobes: entry and return paired per thread, so that one record carries the
 * arguments and the result, calls made inside another allocator call folded into it, and the
 * user stack of each allocation captured at its entry.
 */
#include "shared.h"
#include "sample.h"
#include "unwind.h"

/* Stack capture: a per-CPU scratch record. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ht_stack);
} stack_scratch SEC(".maps");

/* A stack id that no hash is (those are odd): the stack is taken at the call's return. */
#define STACK_AT_RETURN 2ull

/*
 * The user stack of the current allocator call, deduplicated by a hash: the frames go to
 * userspace the first time an id is seen. Taken at the allocator's entry (or at its return:
 * the same frames) from the caller's return address ret_addr at sp, with the caller's rbp: the
 * allocator has not pushed anything yet. With unwind tables for the process the walk follows
 * them (bpf/unwind.h). Else the frame-pointer walk starts at the allocator's own ip and goes on
 * from its caller's caller; the caller's return address takes the first slot, so that the code
 * that called the allocator is never missing. Returns the id, 0 when the capture failed
 * (counted), or STACK_AT_RETURN when may_defer let it wait for the tables. compat (a constant:
 * the programs for kernels without bpf_loop) leaves the unwinder out, callbacks and all: a
 * kernel before 5.13 refuses a program that merely names a callback.
 */
static __always_inline __u64 capture_stack(void *ctx, __u64 id, __u64 now, __u64 ret_addr, __u64 sp,
					   __u64 bp, bool may_defer, bool compat)
{
	struct ht_stack *b = bpf_map_lookup_elem(&stack_scratch, &(__u32){ 0 });
	__u32 n = 0, flags = 0;
	__u64 hash;

	if (!b)
		return 0;
	if (hold_for_maps) {
		__u32 *tflags = bpf_map_lookup_elem(&targets, &(__u32){ id >> 32 });

		if (tflags && (*tflags & HT_TGT_NEED_MAPS)) {
			*tflags &= ~HT_TGT_NEED_MAPS;
			hold_current(id);
			/*
			 * The process stops before the allocator runs, while userspace reads its
			 * mappings and compiles their tables; the return walks the same frames
			 * with them.
			 */
			if (unwind_tables && !compat && may_defer)
				return STACK_AT_RETURN;
		}
	}
	if (unwind_tables && !compat) {
		struct ht_unwind_proc *up =
			bpf_map_lookup_elem(&unwind_procs, &(__u32){ id >> 32 });
		__u64 unmapped_pc = 0;

		if (up)
			n = unwind_walk(up, b, ret_addr, sp, bp, &flags, &unmapped_pc);
		if (up && may_defer && unwind_wants_tables(up, unmapped_pc)) {
			hold_current_for(id, HT_F_HELD_UNWIND);
			return STACK_AT_RETURN;
		}
	}
	if (!n) {
		n = stack_walk(ctx, b, BPF_F_USER_STACK);
		if (!n)
			return 0;
		b->frames[0] = ret_addr;
	}
	hash = stack_hash(b->frames, n, 0xcbf29ce484222325ull);
	/*
	 * Woken at once: userspace reads the process's module list when it sees a new stack, and
	 * a short-lived process may be gone a poll interval later.
	 */
	return stack_send(b, hash, n, flags, now, id, BPF_RB_FORCE_WAKEUP);
}

static __always_inline void emit_alloc(struct thread_state *st, __u64 id, __u64 now, __u64 ret,
				       __u64 addr, __u32 flags)
{
	__u64 cookie = st->alloc_cookie;
	bool is_free = HT_FN_IS_FREE(HT_COOKIE_FN(cookie));
	struct ht_alloc *rec;

	rec = reserve_or_count(HT_REC_ALLOC, sizeof(*rec), id, is_free ? now : st->alloc_ts, flags,
			       is_free ? HT_LOST_FREE : HT_LOST_RINGBUF);
	if (!rec)
		return;
	rec->fn = HT_COOKIE_FN(cookie);
	rec->variant = HT_COOKIE_VARIANT(cookie);
	rec->aliases = HT_COOKIE_ALIASES(cookie);
	rec->pad0 = 0;
	rec->caller = st->alloc_ret;
	rec->stack_id = st->alloc_stack == STACK_AT_RETURN ? 0 : st->alloc_stack;
	rec->args[0] = st->alloc_args[0];
	rec->args[1] = st->alloc_args[1];
	rec->args[2] = st->alloc_args[2];
	rec->ret = ret;
	rec->addr = addr;
	rec->lat_ns = is_free ? 0 : now - st->alloc_ts;
	bpf_ringbuf_submit(rec, wakeup_flags());
}

/* The return address at sp: the caller's, at an allocator's entry. */
static __always_inline __u64 read_ret_addr(__u64 sp)
{
	__u64 ret_addr = 0;

	bpf_probe_read_user(&ret_addr, sizeof(ret_addr), (void *)sp);
	return ret_addr;
}

/*
 * Sampled mode reads the caller's return address only where it is used (a read from user
 * memory cost 55 ns a call on churn, bpf_stats): for a sampled call's stack and record, and to
 * tell a tail call from a new call where no uretprobe marks the outer frame (operator new,
 * probed at its ret instructions; operator delete, which jumps to free).
 */
static __always_inline bool sample_wants_ret_addr(__u64 cookie)
{
	return !(cookie & HT_COOKIE_URET) && HT_COOKIE_FN(cookie) != HT_FN_FREE;
}

/* Sampled mode: the free of a sampled block that a realloc moved to one not sampled. */
static __always_inline void emit_sampled_free(struct thread_state *st, __u64 id, __u64 now,
					      __u64 ptr)
{
	struct ht_alloc *rec;

	/* its caller is the realloc's, when it was read (the slot now holds the trampoline) */
	rec = reserve_or_count(HT_REC_ALLOC, sizeof(*rec), id, now, HT_F_SAMPLED, HT_LOST_FREE);
	if (!rec)
		return;
	__builtin_memset(&rec->fn, 0, sizeof(*rec) - sizeof(rec->hdr));
	rec->fn = HT_FN_FREE;
	rec->caller = st->alloc_ret;
	rec->args[0] = ptr;
	bpf_ringbuf_submit(rec, wakeup_flags());
}

/*
 * Sampled mode, a free at its entry: counted, and sent when its block was sampled (sp: the
 * stack pointer at entry). Only then does it need the time.
 */
static __always_inline void sample_free_call(struct pt_regs *ctx, struct thread_state *st, __u64 id,
					     __u64 sp, bool compat)
{
	struct ht_sample_proc *proc;
	__u64 now;

	st->alloc_stack = 0;
	if (!st->alloc_args[0])
		return;
	proc = sample_proc_get(id >> 32);
	if (!proc || !sample_free(proc, st->alloc_args[0]))
		return;
	now = bpf_ktime_get_ns();
	if (!st->alloc_ret)
		st->alloc_ret = read_ret_addr(sp);
	if (capture_stacks && capture_free_stacks)
		st->alloc_stack = capture_stack(ctx, id, now, st->alloc_ret, sp, PT_REGS_FP(ctx),
						false, compat);
	emit_alloc(st, id, now, 0, 0, HT_F_SAMPLED);
}

/* Sampled mode, an allocation's entry: is it sampled? Only then is its stack taken. */
static __always_inline void sample_enter(struct pt_regs *ctx, struct thread_state *st, __u64 id,
					 __u64 now, bool compat)
{
	st->alloc_size = sample_size(HT_COOKIE_FN(st->alloc_cookie), st->alloc_args);
	st->alloc_sampled = sample_take(st, st->alloc_size);
	st->alloc_stack = 0;
	if (!st->alloc_sampled)
		return;
	if (!st->alloc_ret)
		st->alloc_ret = read_ret_addr(st->alloc_sp);
	if (capture_stacks)
		st->alloc_stack = capture_stack(ctx, id, now, st->alloc_ret, st->alloc_sp,
						PT_REGS_FP(ctx), true, compat);
}

/*
 * Sampled mode, an allocation's return: every block is followed, only a sampled one is sent
 * (and the free of a sampled one that a realloc moved), with the model's reading of a result.
 */
static __always_inline void sample_return(struct thread_state *st, __u64 id, __u64 now, __u64 ret,
					  __u64 addr, __u32 fn)
{
	struct ht_sample_proc *proc = sample_proc_get(id >> 32);
	bool is_realloc = fn == HT_FN_REALLOC || fn == HT_FN_REALLOCARRAY, old_sampled = false;
	__u64 ptr = is_realloc ? st->alloc_args[0] : 0;

	if (!proc)
		return;
	if (!addr) {
		/* realloc(p, 0) that returns NULL has freed p (glibc); any other NULL failed */
		if (fn == HT_FN_REALLOC && ptr && st->alloc_size == 0) {
			if (sample_free(proc, ptr))
				emit_alloc(st, id, now, ret, addr, HT_F_SAMPLED);
		} else {
			__sync_fetch_and_add(&proc->c.failed_allocs, 1);
		}
		return;
	}
	if (ptr)
		old_sampled = sample_free(proc, ptr);
	sample_alloc(proc, addr, st->alloc_size, st->alloc_sampled, now);
	if (st->alloc_sampled) {
		/* the model frees what a realloc moved only when it holds it */
		if (is_realloc && !old_sampled)
			st->alloc_args[0] = 0;
		emit_alloc(st, id, now, ret, addr, HT_F_SAMPLED);
	} else if (old_sampled) {
		emit_sampled_free(st, id, now, ptr);
	}
}

/* Sampled mode: a call left without returning is counted, not sent. */
static __always_inline void sample_no_return(__u64 id)
{
	struct ht_sample_proc *proc = sample_proc_get(id >> 32);

	if (!proc)
		return;
	__sync_fetch_and_add(&proc->c.no_return, 1);
	__sync_fetch_and_add(&proc->c.failed_allocs, 1);
}

/*
 * The probe's cookie (enum ht_alloc_fn and flags, heaptrail.h). A kernel before 5.15 has no
 * attach cookies: there the compat programs are loaded once per cookie, each a copy whose
 * HT_COOKIE_PLACEHOLDER userspace replaced by the cookie (source/live/compat.c).
 */
static __always_inline __u64 attach_cookie(struct pt_regs *ctx, bool compat)
{
	__u64 cookie;

	if (!compat || bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_attach_cookie))
		return bpf_get_attach_cookie(ctx);
	asm volatile("%0 = " HT_STR(HT_COOKIE_PLACEHOLDER) " ll" : "=r"(cookie));
	return cookie;
}

static __always_inline int on_alloc_return(struct pt_regs *ctx, __u64 entry_sp, __u64 cookie,
					   bool compat);
static __always_inline int on_free_instant(struct pt_regs *ctx, struct thread_state *st, __u64 id,
					   __u64 now, __u64 sp, __u64 ret_addr, __u64 cookie,
					   bool compat);

/*
 * Calls are paired by depth and by stack pointer. At entry the stack pointer points at the
 * return address; a call nested in the outer one (realloc calling malloc) has a lower one, and
 * a tail call from it (operator delete jumping to free) the same one, in another function.
 * Anything else means the outer call is over although no return was seen: an exception or a
 * longjmp left it. It is reported then, as a call that did not return.
 *
 * Only an outer call without a uretprobe (operator new, whose return is probed at its ret
 * instructions so that exceptions can pass) goes stale that way, and then a fresh call at the
 * same depth (free, reached by tail calls from __cxa_end_catch) has the same stack pointer: a
 * tail call is told from it by the return address, still the outer call's. With a uretprobe
 * that slot holds the trampoline, and such a call does not go stale short of a longjmp.
 */
static __always_inline bool is_nested(struct thread_state *st, __u64 sp, __u64 ret_addr,
				      __u64 cookie)
{
	if (sp < st->alloc_sp)
		return true;
	if (sp != st->alloc_sp || cookie == st->alloc_cookie)
		return false;
	if (st->alloc_cookie & HT_COOKIE_URET)
		return true;
	/* sampled mode reads the return address only here (sample_wants_ret_addr) */
	return (ret_addr ?: read_ret_addr(sp)) == st->alloc_ret;
}

static __always_inline int on_alloc_enter(struct pt_regs *ctx, bool compat)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 cookie = attach_cookie(ctx, compat);
	__u64 sp = PT_REGS_SP(ctx), ret_addr = 0, now;
	struct thread_state *st;
	bool instant;
	__u32 tflags;

	if (floor_only) {
		__sync_fetch_and_add(&floor_hits, 1);
		return 0;
	}
	if (!probes_armed)
		return 0;
	if (cookie & HT_COOKIE_AT_RET)
		return on_alloc_return(ctx, sp, cookie, compat);
	/*
	 * Probes shared by every process that maps the library (-a, or once a target forked) are
	 * hit by processes that are not targets too: they pay this lookup. A -p or -c target has
	 * probes of its own and takes only those: the same trap runs both programs.
	 */
	tflags = target_flags(id >> 32);
	if (!tflags || ((cookie & HT_COOKIE_SHARED) && (tflags & HT_TGT_PRIVATE)))
		return 0;
	st = thread_state_get((__u32)id);
	if (!st)
		return 0;
	instant = !free_returns && HT_FN_IS_FREE(HT_COOKIE_FN(cookie));
	/* sampled mode: a free needs the time only when it is sent */
	now = sample_bytes && HT_FN_IS_FREE(HT_COOKIE_FN(cookie)) ? 0 : bpf_ktime_get_ns();
	if (!sample_bytes || sample_wants_ret_addr(cookie))
		ret_addr = read_ret_addr(sp);
	if (st->alloc_depth > 0) {
		if (is_nested(st, sp, ret_addr, cookie)) {
			/* a free without a return probe would never bring the depth back */
			if (!instant)
				st->alloc_depth++;
			return 0;
		}
		if (!HT_FN_IS_FREE(HT_COOKIE_FN(st->alloc_cookie))) {
			if (sample_bytes)
				sample_no_return(id);
			else
				emit_alloc(st, id, now, 0, 0, HT_F_NO_RETURN);
		}
		st->alloc_depth = 0;
	}
	if (instant)
		return on_free_instant(ctx, st, id, now, sp, ret_addr, cookie, compat);
	st->alloc_depth = 1;
	st->alloc_cookie = cookie;
	st->alloc_sp = sp;
	st->alloc_ret = ret_addr;
	st->alloc_args[0] = PT_REGS_PARM1(ctx);
	st->alloc_args[1] = PT_REGS_PARM2(ctx);
	st->alloc_args[2] = PT_REGS_PARM3(ctx);
	st->alloc_ts = now;
	if (sample_bytes) {
		if (HT_FN_IS_FREE(HT_COOKIE_FN(cookie)))
			sample_free_call(ctx, st, id, sp, compat);
		else
			sample_enter(ctx, st, id, now, compat);
		return 0;
	}
	st->alloc_stack =
		capture_stacks && (capture_free_stacks || !HT_FN_IS_FREE(HT_COOKIE_FN(cookie)))
			? capture_stack(ctx, id, now, ret_addr, sp, PT_REGS_FP(ctx),
					!HT_FN_IS_FREE(HT_COOKIE_FN(cookie)), compat)
			: 0;
	/*
	 * Frees are emitted at entry: once free() has begun, another thread may be handed the same
	 * address, and its malloc record must come after this one.
	 */
	if (HT_FN_IS_FREE(HT_COOKIE_FN(cookie)))
		emit_alloc(st, id, now, 0, 0, 0);
	return 0;
}

/*
 * A free without a return probe, at depth 0: emitted now, unless it is the tail call of the free
 * just emitted (same stack pointer and return address, another function).
 */
static __always_inline int on_free_instant(struct pt_regs *ctx, struct thread_state *st, __u64 id,
					   __u64 now, __u64 sp, __u64 ret_addr, __u64 cookie,
					   bool compat)
{
	if (sp == st->free_sp && cookie != st->free_cookie) {
		if (!ret_addr) /* sampled mode reads it only now */
			ret_addr = read_ret_addr(sp);
		if (ret_addr == st->free_ret)
			return 0;
	}
	st->free_sp = sp;
	st->free_ret = ret_addr;
	st->free_cookie = cookie;
	st->alloc_cookie = cookie;
	st->alloc_ret = ret_addr;
	st->alloc_args[0] = PT_REGS_PARM1(ctx);
	st->alloc_args[1] = PT_REGS_PARM2(ctx);
	st->alloc_args[2] = PT_REGS_PARM3(ctx);
	if (sample_bytes) {
		sample_free_call(ctx, st, id, sp, compat);
		return 0;
	}
	st->alloc_stack =
		capture_stacks && capture_free_stacks
			? capture_stack(ctx, id, now, ret_addr, sp, PT_REGS_FP(ctx), false, compat)
			: 0;
	emit_alloc(st, id, now, 0, 0, 0);
	return 0;
}

/* entry_sp: the stack pointer the returning call had at its entry. */
static __always_inline int on_alloc_return(struct pt_regs *ctx, __u64 entry_sp, __u64 cookie,
					   bool compat)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct thread_state *st;
	__u64 ret, addr, now;
	__u32 fn;

	if (floor_only) {
		__sync_fetch_and_add(&floor_hits, 1);
		return 0;
	}
	if (!probes_armed)
		return 0;
	st = bpf_map_lookup_elem(&threads, &(__u32){ (__u32)id });
	/* No depth: the call began before we attached. */
	if (!st || st->alloc_depth == 0)
		return 0;
	/* before anything changes: the private probe's program sees this return too */
	if ((cookie & HT_COOKIE_SHARED) && (target_flags(id >> 32) & HT_TGT_PRIVATE))
		return 0;
	if (entry_sp < st->alloc_sp) {
		/* a nested call returns */
		if (st->alloc_depth > 1)
			st->alloc_depth--;
		return 0;
	}
	st->alloc_depth = 0;
	if (entry_sp > st->alloc_sp) {
		/* returning from further up than the outer call: its return was missed */
		count_lost(HT_LOST_PAIRING);
		return 0;
	}
	fn = HT_COOKIE_FN(st->alloc_cookie);
	if (HT_FN_IS_FREE(fn))
		return 0;
	/* sampled mode: a block not sampled is stamped with its entry's time */
	now = sample_bytes && !st->alloc_sampled ? st->alloc_ts : bpf_ktime_get_ns();
	ret = PT_REGS_RC(ctx);
	addr = ret;
	if (fn == HT_FN_POSIX_MEMALIGN) {
		/* The result is in *memptr, and only when it returned 0. */
		addr = 0;
		if ((int)ret == 0 &&
		    bpf_probe_read_user(&addr, sizeof(addr), (void *)st->alloc_args[0]))
			addr = 0;
	}
	if (st->alloc_stack == STACK_AT_RETURN)
		st->alloc_stack = capture_stack(ctx, id, now, st->alloc_ret, st->alloc_sp,
						PT_REGS_FP(ctx), false, compat);
	if (sample_bytes)
		sample_return(st, id, now, ret, addr, fn);
	else
		emit_alloc(st, id, now, ret, addr, 0);
	return 0;
}

/*
 * Each handler exists three times: uprobe.multi links (Linux 6.6, commit 89ae89f53d20) attach
 * every function of a library in one link, which also detaches in one grace period; older
 * kernels get one perf-event uprobe per function; and kernels without bpf_loop (5.17) get the
 * compat programs, which walk frame pointers only and, before 5.15 (no attach cookies), are
 * loaded again once per cookie by userspace (source/live/compat.c).
 */
SEC("uprobe")
int alloc_enter(struct pt_regs *ctx)
{
	return on_alloc_enter(ctx, false);
}

/* After the return the stack pointer is one slot above where it was at entry. */
SEC("uretprobe")
int alloc_return(struct pt_regs *ctx)
{
	return on_alloc_return(ctx, PT_REGS_SP(ctx) - 8, attach_cookie(ctx, false), false);
}

SEC("uprobe.multi")
int alloc_enter_multi(struct pt_regs *ctx)
{
	return on_alloc_enter(ctx, false);
}

SEC("uretprobe.multi")
int alloc_return_multi(struct pt_regs *ctx)
{
	return on_alloc_return(ctx, PT_REGS_SP(ctx) - 8, attach_cookie(ctx, false), false);
}

SEC("uprobe")
int alloc_enter_compat(struct pt_regs *ctx)
{
	return on_alloc_enter(ctx, true);
}

SEC("uretprobe")
int alloc_return_compat(struct pt_regs *ctx)
{
	return on_alloc_return(ctx, PT_REGS_SP(ctx) - 8, attach_cookie(ctx, true), true);
}
