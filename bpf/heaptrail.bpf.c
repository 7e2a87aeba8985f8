// SPDX-License-Identifier: GPL-2.0-only
/*
 * heaptrail's BPF programs: allocator uprobes (with user stacks), memory syscall tracepoints,
 * kernel-function hooks, page faults, process lifecycle and RSS. Entry and exit are paired per
 * thread here so that one record carries the arguments and the result; everything goes to
 * userspace through one ring buffer. Targets stop themselves (SIGSTOP) where userspace must act
 * while they live: after fork, at exec, at their first stack.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "heaptrail.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by userspace between open and load. */
const volatile bool filter_targets = true;	       /* false with -a: every process */
const volatile __u32 self_pid = 0;		       /* heaptrail itself is never traced */
const volatile bool capture_stacks = false;	       /* user stacks of allocations (leaks) */
const volatile bool capture_free_stacks = false;       /* and of frees (leaks --free-stacks) */
const volatile __u32 stack_depth = HT_MAX_STACK_DEPTH; /* --stack-depth */
/* stop a target at its first stack until userspace has read its mappings (HT_TGT_NEED_MAPS) */
const volatile bool hold_for_maps = false;
/*
 * Frees have return probes only when kernel events are traced: then the munmap or brk a free
 * makes is flagged as the allocator's. Otherwise a free is complete at its entry (one uretprobe
 * less per free, ~1 us here), and a free reached by a tail call from another free (operator
 * delete jumping to free) is told by the same stack pointer and return address.
 */
const volatile bool free_returns = true;
/*
 * Stop a target at its exec, before the new program's first instruction (and so before ld.so
 * maps anything), so that userspace reads exactly the mappings the kernel made (timeline).
 */
const volatile bool hold_at_exec = false;
/* Benchmarks' floor: the allocator probes only count their hits (leaks --floor). */
const volatile bool floor_only = false;
__u64 floor_hits;

/* Loss counters by enum ht_lost_kind; userspace reads them through the mmapped .bss. */
__u64 lost[HT_LOST_MAX];

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* --ringbuf-size */
} events SEC(".maps");

/* tgid -> HT_TGT_* flags. Forked children of targets are added here by the fork program. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

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
};

struct {
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

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct hook_stack);
} hook_pending SEC(".maps");

/* Stack capture: a per-CPU scratch record, and the ids already sent (--stack-table-size). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ht_stack);
} stack_scratch SEC(".maps");

struct {
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

	if (tgid == self_pid)
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

static __always_inline void *reserve(__u32 type, __u32 size, __u64 id, __u64 ts, __u32 flags)
{
	struct ht_hdr *hdr = bpf_ringbuf_reserve(&events, size, 0);

	if (!hdr) {
		count_lost(HT_LOST_RINGBUF);
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
const volatile bool fault_batching = false;

struct {
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

/* ---------------------------------------------------------------- allocator uprobes */

/*
 * Stops the current process (it happens on its way back to user mode) and tells userspace,
 * which continues it once it has done what it needed: attach its uprobes, read its mappings.
 * A short-lived process would otherwise be gone before userspace got there.
 */
static __always_inline void hold_current(__u64 id)
{
	struct ht_hdr *rec;

	bpf_send_signal(19 /* SIGSTOP */);
	rec = reserve(HT_REC_HELD, sizeof(*rec), id, bpf_ktime_get_ns(), 0);
	if (rec)
		bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP);
}

/*
 * The user stack of the current allocator call, captured at its entry, deduplicated by a hash:
 * the frames go to userspace the first time an id is seen. At entry the frame-pointer walk
 * starts at the allocator's own ip and goes on from its caller's caller, since the allocator has
 * not pushed a frame yet; the caller's return address, read at the stack pointer, takes the
 * first slot, so that the code that called the allocator is never missing. Returns the id, 0
 * when the capture failed (counted).
 */
static __always_inline __u64 capture_stack(void *ctx, __u64 id, __u64 now, __u64 ret_addr)
{
	struct ht_stack *b = bpf_map_lookup_elem(&stack_scratch, &(__u32){ 0 });
	__u64 hash = 0xcbf29ce484222325ull;
	__u32 size = stack_depth * 8, n;
	long bytes;

	if (!b)
		return 0;
	if (size > sizeof(b->frames))
		size = sizeof(b->frames);
	bytes = bpf_get_stack(ctx, b->frames, size, BPF_F_USER_STACK);
	if (bytes <= 0) {
		count_lost(HT_LOST_STACK);
		return 0;
	}
	n = bytes / 8;
	if (n > HT_MAX_STACK_DEPTH)
		n = HT_MAX_STACK_DEPTH;
	b->frames[0] = ret_addr;
	for (__u32 i = 0; i < HT_MAX_STACK_DEPTH; i++) {
		if (i >= n)
			break;
		hash = (hash ^ b->frames[i]) * 0x100000001b3ull;
	}
	hash |= 1; /* never 0, which means none */
	if (hold_for_maps) {
		__u32 *flags = bpf_map_lookup_elem(&targets, &(__u32){ id >> 32 });

		if (flags && (*flags & HT_TGT_NEED_MAPS)) {
			*flags &= ~HT_TGT_NEED_MAPS;
			hold_current(id);
		}
	}
	if (bpf_map_lookup_elem(&stacks_sent, &hash))
		return hash;
	b->hdr.type = HT_REC_STACK;
	b->hdr.size = HT_STACK_HDR_SIZE + n * 8;
	b->hdr.flags = 0;
	b->hdr.ts_ns = now;
	b->hdr.pid = id >> 32;
	b->hdr.tid = (__u32)id;
	b->stack_id = hash;
	b->nframes = n;
	b->pad0 = 0;
	/*
	 * Woken at once: userspace reads the process's module list when it sees a new stack, and
	 * a short-lived process may be gone a poll interval later.
	 */
	if (bpf_ringbuf_output(&events, b, HT_STACK_HDR_SIZE + (__u64)(n & 0xff) * 8,
			       BPF_RB_FORCE_WAKEUP)) {
		/* not sent: the allocation still names it, and a later one sends it */
		count_lost(HT_LOST_RINGBUF);
		return hash;
	}
	bpf_map_update_elem(&stacks_sent, &hash, &(__u8){ 1 }, BPF_ANY);
	return hash;
}

static __always_inline void emit_alloc(struct thread_state *st, __u64 id, __u64 now, __u64 ret,
				       __u64 addr, __u32 flags)
{
	__u64 cookie = st->alloc_cookie;
	bool is_free = HT_FN_IS_FREE(HT_COOKIE_FN(cookie));
	struct ht_alloc *rec;

	rec = reserve(HT_REC_ALLOC, sizeof(*rec), id, is_free ? now : st->alloc_ts, flags);
	if (!rec)
		return;
	rec->fn = HT_COOKIE_FN(cookie);
	rec->variant = HT_COOKIE_VARIANT(cookie);
	rec->aliases = HT_COOKIE_ALIASES(cookie);
	rec->pad0 = 0;
	rec->caller = st->alloc_ret;
	rec->stack_id = st->alloc_stack;
	rec->args[0] = st->alloc_args[0];
	rec->args[1] = st->alloc_args[1];
	rec->args[2] = st->alloc_args[2];
	rec->ret = ret;
	rec->addr = addr;
	rec->lat_ns = is_free ? 0 : now - st->alloc_ts;
	bpf_ringbuf_submit(rec, wakeup_flags());
}

static __always_inline int on_alloc_return(struct pt_regs *ctx, __u64 entry_sp);
static __always_inline int on_free_instant(struct pt_regs *ctx, struct thread_state *st, __u64 id,
					   __u64 now, __u64 sp, __u64 ret_addr, __u64 cookie);

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
	return sp == st->alloc_sp && cookie != st->alloc_cookie &&
	       ((st->alloc_cookie & HT_COOKIE_URET) || ret_addr == st->alloc_ret);
}

static __always_inline int on_alloc_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 sp = PT_REGS_SP(ctx), ret_addr = 0, now;
	struct thread_state *st;
	bool instant;

	if (floor_only) {
		__sync_fetch_and_add(&floor_hits, 1);
		return 0;
	}
	if (cookie & HT_COOKIE_AT_RET)
		return on_alloc_return(ctx, sp);
	/*
	 * Without -a the uprobes are bound to the targets by the kernel: no need to look them up.
	 * (A -c command pending its exec calls no allocator; if it did, its exec resets the model.)
	 */
	if (filter_targets ? (__u32)(id >> 32) == self_pid : !target_flags(id >> 32))
		return 0;
	st = thread_state_get((__u32)id);
	if (!st)
		return 0;
	now = bpf_ktime_get_ns();
	bpf_probe_read_user(&ret_addr, sizeof(ret_addr), (void *)sp);
	instant = !free_returns && HT_FN_IS_FREE(HT_COOKIE_FN(cookie));
	if (st->alloc_depth > 0) {
		if (is_nested(st, sp, ret_addr, cookie)) {
			/* a free without a return probe would never bring the depth back */
			if (!instant)
				st->alloc_depth++;
			return 0;
		}
		if (!HT_FN_IS_FREE(HT_COOKIE_FN(st->alloc_cookie)))
			emit_alloc(st, id, now, 0, 0, HT_F_NO_RETURN);
		st->alloc_depth = 0;
	}
	if (instant)
		return on_free_instant(ctx, st, id, now, sp, ret_addr, cookie);
	st->alloc_depth = 1;
	st->alloc_cookie = cookie;
	st->alloc_sp = sp;
	st->alloc_ret = ret_addr;
	st->alloc_stack =
		capture_stacks && (capture_free_stacks || !HT_FN_IS_FREE(HT_COOKIE_FN(cookie)))
			? capture_stack(ctx, id, now, ret_addr)
			: 0;
	st->alloc_args[0] = PT_REGS_PARM1(ctx);
	st->alloc_args[1] = PT_REGS_PARM2(ctx);
	st->alloc_args[2] = PT_REGS_PARM3(ctx);
	st->alloc_ts = now;
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
					   __u64 now, __u64 sp, __u64 ret_addr, __u64 cookie)
{
	if (sp == st->free_sp && ret_addr == st->free_ret && cookie != st->free_cookie)
		return 0;
	st->free_sp = sp;
	st->free_ret = ret_addr;
	st->free_cookie = cookie;
	st->alloc_cookie = cookie;
	st->alloc_ret = ret_addr;
	st->alloc_args[0] = PT_REGS_PARM1(ctx);
	st->alloc_args[1] = PT_REGS_PARM2(ctx);
	st->alloc_args[2] = PT_REGS_PARM3(ctx);
	st->alloc_stack =
		capture_stacks && capture_free_stacks ? capture_stack(ctx, id, now, ret_addr) : 0;
	emit_alloc(st, id, now, 0, 0, 0);
	return 0;
}

/* entry_sp: the stack pointer the returning call had at its entry. */
static __always_inline int on_alloc_return(struct pt_regs *ctx, __u64 entry_sp)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct thread_state *st;
	__u64 ret, addr, now;
	__u32 fn;

	if (floor_only) {
		__sync_fetch_and_add(&floor_hits, 1);
		return 0;
	}
	st = bpf_map_lookup_elem(&threads, &(__u32){ (__u32)id });
	/* No depth: the call began before we attached. */
	if (!st || st->alloc_depth == 0)
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
	now = bpf_ktime_get_ns();
	ret = PT_REGS_RC(ctx);
	addr = ret;
	if (fn == HT_FN_POSIX_MEMALIGN) {
		/* The result is in *memptr, and only when it returned 0. */
		addr = 0;
		if ((int)ret == 0 &&
		    bpf_probe_read_user(&addr, sizeof(addr), (void *)st->alloc_args[0]))
			addr = 0;
	}
	emit_alloc(st, id, now, ret, addr, 0);
	return 0;
}

/*
 * Each handler exists twice: uprobe.multi links (Linux 6.6, commit 89ae89f53d20) attach every
 * function of a library in one link, which also detaches in one grace period; older kernels get
 * one perf-event uprobe per function.
 */
SEC("uprobe")
int alloc_enter(struct pt_regs *ctx)
{
	return on_alloc_enter(ctx);
}

/* After the return the stack pointer is one slot above where it was at entry. */
SEC("uretprobe")
int alloc_return(struct pt_regs *ctx)
{
	return on_alloc_return(ctx, PT_REGS_SP(ctx) - 8);
}

SEC("uprobe.multi")
int alloc_enter_multi(struct pt_regs *ctx)
{
	return on_alloc_enter(ctx);
}

SEC("uretprobe.multi")
int alloc_return_multi(struct pt_regs *ctx)
{
	return on_alloc_return(ctx, PT_REGS_SP(ctx) - 8);
}

/* ---------------------------------------------------------------- memory syscalls */

/*
 * The raw_syscalls tracepoints see every syscall; this table, indexed by the kernel's syscall
 * number, says which ones matter, so that the others cost one array lookup. (Per-syscall
 * tracepoints would filter in the kernel, but each is a perf event, and tearing down a perf
 * event waits for a grace period under a global mutex: 28 of them took seconds to detach.)
 */
#define SYS_TABLE_SIZE 512
#define SYSF_FORK      1 /* returns in a new process: fork, vfork, clone, clone3 */

struct sys_info {
	__u32 sys; /* enum ht_sys, 0 for none */
	__u16 nargs;
	__u16 flags; /* SYSF_* */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SYS_TABLE_SIZE);
	__type(key, __u32); /* kernel syscall number */
	__type(value, struct sys_info);
} sys_table SEC(".maps");

#define USER_CS_64 0x33 /* __USER_CS: a 64-bit task; 32-bit ones number syscalls differently */

static __always_inline struct sys_info *sys_lookup(long nr)
{
	__u32 key = (__u32)nr;

	if (nr < 0 || nr >= SYS_TABLE_SIZE)
		return NULL;
	return bpf_map_lookup_elem(&sys_table, &key);
}

/*
 * BTF-typed raw tracepoints: regs is read directly, not through probe reads. This matters on
 * sys_exit, which runs for every syscall of the system, uretprobe returns included (since 6.11
 * a uretprobe returns through a syscall).
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sys_info *info = sys_lookup(nr);
	struct thread_state *st;

	if (!info || !info->sys || !target_flags(id >> 32) || regs->cs != USER_CS_64)
		return 0;
	st = thread_state_get((__u32)id);
	if (!st)
		return 0;
	st->sys_nr = info->sys;
	/* x86-64 syscall arguments; those past the syscall's own count are not its arguments. */
	st->sys_args[0] = info->nargs > 0 ? regs->di : 0;
	st->sys_args[1] = info->nargs > 1 ? regs->si : 0;
	st->sys_args[2] = info->nargs > 2 ? regs->dx : 0;
	st->sys_args[3] = info->nargs > 3 ? regs->r10 : 0;
	st->sys_args[4] = info->nargs > 4 ? regs->r8 : 0;
	st->sys_args[5] = info->nargs > 5 ? regs->r9 : 0;
	st->sys_ts = bpf_ktime_get_ns();
	return 0;
}

/*
 * A new process forked from a target is held: the first thing it does in user mode would be to
 * run code whose uprobes userspace has not attached for it yet. On its return from fork it
 * stops itself with SIGSTOP and says so; userspace continues it once its probes are in place.
 */
static __always_inline void hold_forked_child(__u64 id)
{
	__u32 tgid = id >> 32, *flags;

	if ((__u32)id != tgid)
		return; /* a new thread, not a new process */
	flags = bpf_map_lookup_elem(&targets, &tgid);
	if (!flags || !(*flags & HT_TGT_HOLD))
		return;
	*flags &= ~HT_TGT_HOLD; /* only this child writes its entry now */
	hold_current(id);
}

/* hist: the syscalls become histograms here (per CPU, summed by userspace), not records */
const volatile bool sys_hist_only = false;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ht_sys_hist_key);
	__type(value, struct ht_sys_hist);
} sys_hists SEC(".maps");

static __always_inline __u32 log2_bucket(__u64 v)
{
	__u32 r = 1;

	if (!v)
		return 0;
	if (v >> 32) {
		r += 32;
		v >>= 32;
	}
	if (v >> 16) {
		r += 16;
		v >>= 16;
	}
	if (v >> 8) {
		r += 8;
		v >>= 8;
	}
	if (v >> 4) {
		r += 4;
		v >>= 4;
	}
	if (v >> 2) {
		r += 2;
		v >>= 2;
	}
	if (v >> 1)
		r += 1;
	return r;
}

static __always_inline void sys_hist_add(__u32 tgid, __u32 sys, __u32 what, __u64 v)
{
	struct ht_sys_hist_key key = { .tgid = tgid, .sys = (__u16)sys, .what = (__u16)what };
	struct ht_sys_hist *h = bpf_map_lookup_elem(&sys_hists, &key);
	__u32 b = log2_bucket(v);

	if (!h) {
		static const struct ht_sys_hist zero;

		/* EEXIST: another CPU made it since the lookup */
		bpf_map_update_elem(&sys_hists, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&sys_hists, &key);
		if (!h) {
			count_lost(HT_LOST_SYS_HIST);
			return;
		}
	}
	if (b >= HT_HIST_BUCKETS)
		b = HT_HIST_BUCKETS - 1;
	/*
	 * Per CPU: this CPU's copy of an entry another CPU made starts all zero, so its first
	 * value sets the minimum (a minimum preset at insertion would be set on one CPU only).
	 */
	if (!h->total || v < h->min)
		h->min = v;
	h->counts[b]++;
	h->total++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sys_info *info = sys_lookup(regs->orig_ax);
	struct thread_state *st;
	struct ht_syscall *rec;

	if (!info)
		return 0;
	if (info->flags & SYSF_FORK) {
		if (ret == 0)
			hold_forked_child(id);
		return 0;
	}
	if (!info->sys)
		return 0;
	st = bpf_map_lookup_elem(&threads, &(__u32){ (__u32)id });
	if (!st || !st->sys_nr)
		return 0;
	faults_flush_for((__u32)id);
	if (sys_hist_only) {
		sys_hist_add(id >> 32, st->sys_nr, HT_SYS_HIST_LATENCY,
			     bpf_ktime_get_ns() - st->sys_ts);
		if (st->sys_nr == HT_SYS_MMAP && !(ret < 0 && ret >= -4095))
			sys_hist_add(id >> 32, HT_SYS_MMAP, HT_SYS_HIST_MMAP_LEN, st->sys_args[1]);
		st->sys_nr = 0;
		return 0;
	}
	rec = reserve(HT_REC_SYSCALL, sizeof(*rec), id, st->sys_ts,
		      st->alloc_depth ? HT_F_IN_ALLOC : 0);
	if (rec) {
		rec->sys = st->sys_nr;
		rec->pad0 = 0;
		for (int i = 0; i < 6; i++)
			rec->args[i] = st->sys_args[i];
		rec->ret = ret;
		rec->lat_ns = bpf_ktime_get_ns() - st->sys_ts;
		bpf_ringbuf_submit(rec, wakeup_flags());
	}
	st->sys_nr = 0;
	return 0;
}

/* ---------------------------------------------------------------- faults and RSS */

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

/* ---------------------------------------------------------------- process lifecycle */

SEC("raw_tp/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_tgid = BPF_CORE_READ(parent, tgid);
	__u32 child_tgid = BPF_CORE_READ(child, tgid);
	__u32 pflags, cflags;
	struct ht_fork *rec;

	/* New threads share the process: nothing to follow. */
	if (parent_tgid == child_tgid)
		return 0;
	pflags = target_flags(parent_tgid);
	if (!pflags)
		return 0;
	if (filter_targets) {
		cflags = HT_TGT_HOLD | (hold_for_maps ? HT_TGT_NEED_MAPS : 0);
		if (bpf_map_update_elem(&targets, &child_tgid, &cflags, BPF_ANY))
			count_lost(HT_LOST_TARGETS);
	}
	rec = reserve(HT_REC_FORK, sizeof(*rec),
		      ((__u64)parent_tgid << 32) | BPF_CORE_READ(parent, pid), bpf_ktime_get_ns(),
		      0);
	if (!rec)
		return 0;
	rec->child_pid = child_tgid;
	rec->pad0 = 0;
	BPF_CORE_READ_STR_INTO(&rec->comm, child, comm);
	bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP); /* see capture_stack() */
	return 0;
}

SEC("raw_tp/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32, *flags;
	struct ht_exec *rec;

	faults_flush_for((__u32)id);
	/* The command started by -c begins here. */
	flags = bpf_map_lookup_elem(&targets, &tgid);
	if (flags && (*flags & HT_TGT_PENDING_EXEC))
		*flags &= ~HT_TGT_PENDING_EXEC;
	/* a new program: its mappings are to be read again */
	if (flags && hold_for_maps)
		*flags |= HT_TGT_NEED_MAPS;
	if (!target_flags(tgid))
		return 0;
	rec = reserve(HT_REC_EXEC, sizeof(*rec), id, bpf_ktime_get_ns(), 0);
	if (!rec)
		return 0;
	rec->old_tid = old_pid;
	rec->pad0 = 0;
	bpf_get_current_comm(&rec->comm, sizeof(rec->comm));
	bpf_probe_read_kernel_str(&rec->filename, sizeof(rec->filename),
				  BPF_CORE_READ(bprm, filename));
	bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP); /* see capture_stack() */
	if (hold_at_exec && filter_targets)
		hold_current(id); /* after the exec record: userspace sees it first */
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *task)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, tgid = id >> 32;
	struct ht_exit *rec;

	faults_flush_for(tid);
	bpf_map_delete_elem(&threads, &tid);
	bpf_map_delete_elem(&hook_pending, &tid);
	/* Every thread passes here; the process is gone when the last one does. */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (!target_flags(tgid))
		return 0;
	/* Deleting also settles which of several racing last threads reports the exit. */
	if (filter_targets && bpf_map_delete_elem(&targets, &tgid))
		return 0;
	rec = reserve(HT_REC_EXIT, sizeof(*rec), id, bpf_ktime_get_ns(), 0);
	if (!rec)
		return 0;
	rec->exit_code = BPF_CORE_READ(task, exit_code);
	rec->pad0 = 0;
	bpf_get_current_comm(&rec->comm, sizeof(rec->comm));
	bpf_ringbuf_submit(rec, wakeup_flags());
	return 0;
}

SEC("raw_tp/task_rename")
int BPF_PROG(task_rename, struct task_struct *task, const char *comm)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct ht_comm *rec;

	if (!target_flags(id >> 32))
		return 0;
	rec = reserve(HT_REC_COMM, sizeof(*rec), id, bpf_ktime_get_ns(), 0);
	if (!rec)
		return 0;
	bpf_probe_read_kernel_str(&rec->comm, sizeof(rec->comm), comm);
	bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP); /* see capture_stack() */
	return 0;
}

/* ---------------------------------------------------------------- kernel-function hooks */

/*
 * do_mmap and friends also see the mappings that no syscall makes (execve loading the ELF).
 * fexit where the kernel allows it (one program has the arguments and the result), kprobes
 * with kretprobes where it does not; userspace decides per hook and fills hook_layout from this
 * kernel's BTF, since the argument positions moved between releases.
 */
const volatile struct ht_hook_layout hook_layout[HT_HOOK_MAX];

static const __u32 hook_kfunc[HT_HOOK_MAX] = {
	[HT_HOOK_DO_MMAP] = HT_KF_DO_MMAP,
	[HT_HOOK_DO_VMI_MUNMAP] = HT_KF_DO_MUNMAP,
	[HT_HOOK_DO_MAS_MUNMAP] = HT_KF_DO_MUNMAP,
	[HT_HOOK_DO_MUNMAP] = HT_KF_DO_MUNMAP,
	[HT_HOOK_DO_BRK_FLAGS] = HT_KF_DO_BRK_FLAGS,
	[HT_HOOK_MPROTECT_FIXUP] = HT_KF_MPROTECT_FIXUP,
};

/*
 * A -c command is traced from its exec on, and the ELF mappings of that exec come before the
 * exec tracepoint: kernel-function events of a target pending its exec count.
 */
static __always_inline bool hook_target(__u32 tgid)
{
	if (tgid == self_pid)
		return false;
	return !filter_targets || bpf_map_lookup_elem(&targets, &tgid);
}

static __always_inline void hook_emit(__u32 hook, __u64 v[HOOK_VALUES], __s64 ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct thread_state *st = bpf_map_lookup_elem(&threads, &(__u32){ (__u32)id });
	struct ht_kfunc_rec *rec;
	__u32 flags = 0;

	if (hook >= HT_HOOK_MAX)
		return;
	if (st && st->sys_nr)
		flags |= HT_F_IN_SYSCALL;
	if (st && st->alloc_depth)
		flags |= HT_F_IN_ALLOC;
	rec = reserve(HT_REC_KFUNC, sizeof(*rec), id, bpf_ktime_get_ns(), flags);
	if (!rec)
		return;
	rec->kfunc = hook_kfunc[hook];
	rec->pad0 = 0;
	rec->start = v[0];
	rec->len = hook_layout[hook].len != HT_ARG_NONE ? v[1] : v[2] - v[0];
	rec->prot = v[3];
	rec->flags = v[4];
	rec->ret = ret;
	bpf_ringbuf_submit(rec, wakeup_flags());
}

static __always_inline __u8 layout_index(__u32 hook, int k)
{
	const volatile struct ht_hook_layout *l = &hook_layout[hook];

	switch (k) {
	case 0:
		return l->start;
	case 1:
		return l->len;
	case 2:
		return l->end;
	case 3:
		return l->prot;
	default:
		return l->flags;
	}
}

static __always_inline int hook_fexit(void *ctx, __u32 hook)
{
	__u64 v[HOOK_VALUES] = {}, ret = 0;

	if (hook >= HT_HOOK_MAX || !hook_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	for (int k = 0; k < HOOK_VALUES; k++) {
		__u8 idx = layout_index(hook, k);

		if (idx != HT_ARG_NONE)
			bpf_get_func_arg(ctx, idx, &v[k]);
	}
	bpf_get_func_ret(ctx, &ret);
	hook_emit(hook, v, (__s64)ret);
	return 0;
}

#define HOOK_FEXIT(fn, hook)                                                                       \
	SEC("fexit/" #fn)                                                                          \
	int fexit_##fn(void *ctx)                                                                  \
	{                                                                                          \
		return hook_fexit(ctx, hook);                                                      \
	}

HOOK_FEXIT(do_mmap, HT_HOOK_DO_MMAP)
HOOK_FEXIT(do_vmi_munmap, HT_HOOK_DO_VMI_MUNMAP)
HOOK_FEXIT(do_mas_munmap, HT_HOOK_DO_MAS_MUNMAP)
HOOK_FEXIT(do_munmap, HT_HOOK_DO_MUNMAP)
HOOK_FEXIT(do_brk_flags, HT_HOOK_DO_BRK_FLAGS)
HOOK_FEXIT(mprotect_fixup, HT_HOOK_MPROTECT_FIXUP)

/*
 * Argument idx at a kprobe on x86-64, from a copy of the registers (an index computed into the
 * context itself is refused): six in registers, the rest on the stack above the return address.
 */
static __always_inline __u64 kprobe_arg(const struct pt_regs *r, __u8 idx)
{
	__u64 v = 0;

	switch (idx) {
	case 0:
		return r->di;
	case 1:
		return r->si;
	case 2:
		return r->dx;
	case 3:
		return r->cx;
	case 4:
		return r->r8;
	case 5:
		return r->r9;
	default:
		bpf_probe_read_kernel(&v, sizeof(v), (void *)(r->sp + 8 * (idx - 5)));
		return v;
	}
}

static __always_inline int hook_kprobe(struct pt_regs *ctx, __u32 hook)
{
	static const struct hook_stack empty;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct hook_stack *hs;
	struct pt_regs regs;
	__u32 d;

	if (hook >= HT_HOOK_MAX || !hook_target(bpf_get_current_pid_tgid() >> 32))
		return 0;
	if (bpf_probe_read_kernel(&regs, sizeof(regs), ctx))
		return 0;
	hs = bpf_map_lookup_elem(&hook_pending, &tid);
	if (!hs) {
		bpf_map_update_elem(&hook_pending, &tid, &empty, BPF_NOEXIST);
		hs = bpf_map_lookup_elem(&hook_pending, &tid);
		if (!hs) {
			count_lost(HT_LOST_THREAD_STATE);
			return 0;
		}
	}
	d = hs->depth;
	if (d >= HOOK_STACK) {
		count_lost(HT_LOST_PAIRING);
		return 0;
	}
	hs->depth = d + 1;
	barrier_var(d); /* keep the mask: the compiler knows the bound, the verifier must see it */
	d &= HOOK_STACK - 1;
	hs->frames[d].hook = hook;
	for (int k = 0; k < HOOK_VALUES; k++) {
		__u8 idx = layout_index(hook, k);

		hs->frames[d].v[k] = idx != HT_ARG_NONE ? kprobe_arg(&regs, idx) : 0;
	}
	return 0;
}

static __always_inline int hook_kretprobe(struct pt_regs *ctx, __u32 hook)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct hook_stack *hs = bpf_map_lookup_elem(&hook_pending, &tid);
	__u32 d;

	if (!hs || hs->depth == 0 || hs->depth > HOOK_STACK)
		return 0;
	d = --hs->depth;
	barrier_var(d);
	d &= HOOK_STACK - 1;
	if (hs->frames[d].hook != hook) {
		count_lost(HT_LOST_PAIRING);
		hs->depth = 0;
		return 0;
	}
	hook_emit(hook, hs->frames[d].v, (__s64)PT_REGS_RC(ctx));
	return 0;
}

#define HOOK_KPROBE(fn, hook)                                                                      \
	SEC("kprobe/" #fn)                                                                         \
	int kprobe_##fn(struct pt_regs *ctx)                                                       \
	{                                                                                          \
		return hook_kprobe(ctx, hook);                                                     \
	}                                                                                          \
	SEC("kretprobe/" #fn)                                                                      \
	int kretprobe_##fn(struct pt_regs *ctx)                                                    \
	{                                                                                          \
		return hook_kretprobe(ctx, hook);                                                  \
	}

HOOK_KPROBE(do_mmap, HT_HOOK_DO_MMAP)
HOOK_KPROBE(do_vmi_munmap, HT_HOOK_DO_VMI_MUNMAP)
HOOK_KPROBE(do_mas_munmap, HT_HOOK_DO_MAS_MUNMAP)
HOOK_KPROBE(do_munmap, HT_HOOK_DO_MUNMAP)
HOOK_KPROBE(do_brk_flags, HT_HOOK_DO_BRK_FLAGS)
HOOK_KPROBE(mprotect_fixup, HT_HOOK_MPROTECT_FIXUP)

/* ---------------------------------------------------------------- kernel allocators */

/*
 * Raw tracepoints, not perf-event ones: a perf tracepoint program is skipped whenever any
 * tracing program runs on that CPU (bpf_prog_active), so a kfree in an interrupt that lands
 * during our kmalloc program would be lost (bcc memleak's false leaks, its issue 2997). A raw
 * tracepoint program only skips its own nested runs, and the kernel counts them
 * (recursion_misses), which userspace reports as losses. Argument positions come from BTF
 * (the __bpf_trace_<event> functions' parameter names), since they move between releases.
 */
const volatile struct ht_ktp_layout ktp_layout[HT_KTP_MAX];
const volatile bool kmem_stacks = false; /* kernel stacks of kernel allocations */

/* A live kernel allocation this session saw made: its free is worth sending. */
struct kmem_key {
	__u64 ptr;
	__u32 space; /* HT_KA_CACHE stands for both slab allocators */
	__u32 pad;
};

/*
 * Preallocated: a map that allocates on update calls kmalloc from inside our kmalloc program,
 * which the kernel then skips as a nested run, and its own refills show up as events.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 18); /* --kmem-table-size */
	__type(key, struct kmem_key);
	__type(value, __u8);
} kmem_live SEC(".maps");

/* One scratch stack per program: programs of different events nest (an interrupt). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, HT_KTP_MAX);
	__type(key, __u32);
	__type(value, struct ht_stack);
} kstack_scratch SEC(".maps");

/*
 * The context may only be read at constant offsets, and clang would otherwise merge the cases
 * into one load from a computed address, which the verifier refuses: one asm load per case.
 */
#define CTX_LOAD(ctx, i)                                                                           \
	({                                                                                         \
		__u64 __v;                                                                         \
		asm volatile("%0 = *(u64 *)(%1 + %2)" : "=r"(__v) : "r"(ctx), "i"((i)*8));         \
		__v;                                                                               \
	})

static __always_inline __u64 ktp_arg(const __u64 *ctx, __u8 idx)
{
	switch (idx) {
	case 0:
		return CTX_LOAD(ctx, 0);
	case 1:
		return CTX_LOAD(ctx, 1);
	case 2:
		return CTX_LOAD(ctx, 2);
	case 3:
		return CTX_LOAD(ctx, 3);
	case 4:
		return CTX_LOAD(ctx, 4);
	case 5:
		return CTX_LOAD(ctx, 5);
	case 6:
		return CTX_LOAD(ctx, 6);
	case 7:
		return CTX_LOAD(ctx, 7);
	case 8:
		return CTX_LOAD(ctx, 8);
	case 9:
		return CTX_LOAD(ctx, 9);
	default:
		return 0;
	}
}

static __always_inline __u64 kslot(const __u64 *ctx, __u32 ktp, __u32 slot, __u64 dflt)
{
	__u8 idx;

	if (ktp >= HT_KTP_MAX || slot >= HT_KS_MAX)
		return dflt;
	idx = ktp_layout[ktp].idx[slot];
	return idx == HT_ARG_NONE ? dflt : ktp_arg(ctx, idx);
}

static __always_inline __u32 kmem_space(__u32 kind)
{
	return kind == HT_KA_KMALLOC ? HT_KA_CACHE : kind;
}

/* The kernel stack of the current event, sent once per id like user stacks. */
static __always_inline __u64 capture_kstack(void *ctx, __u32 ktp, __u64 id, __u64 now)
{
	struct ht_stack *b = bpf_map_lookup_elem(&kstack_scratch, &ktp);
	__u64 hash = 0x84222325cbf29ce4ull; /* another seed than user stacks */
	__u32 size = stack_depth * 8, n;
	long bytes;

	if (!b)
		return 0;
	if (size > sizeof(b->frames))
		size = sizeof(b->frames);
	bytes = bpf_get_stack(ctx, b->frames, size, 0);
	if (bytes <= 0) {
		count_lost(HT_LOST_STACK);
		return 0;
	}
	n = bytes / 8;
	if (n > HT_MAX_STACK_DEPTH)
		n = HT_MAX_STACK_DEPTH;
	for (__u32 i = 0; i < HT_MAX_STACK_DEPTH; i++) {
		if (i >= n)
			break;
		hash = (hash ^ b->frames[i]) * 0x100000001b3ull;
	}
	hash |= 1;
	if (bpf_map_lookup_elem(&stacks_sent, &hash))
		return hash;
	b->hdr.type = HT_REC_STACK;
	b->hdr.size = HT_STACK_HDR_SIZE + n * 8;
	b->hdr.flags = HT_F_KSTACK;
	b->hdr.ts_ns = now;
	b->hdr.pid = id >> 32;
	b->hdr.tid = (__u32)id;
	b->stack_id = hash;
	b->nframes = n;
	b->pad0 = 0;
	if (bpf_ringbuf_output(&events, b, HT_STACK_HDR_SIZE + (__u64)(n & 0xff) * 8,
			       wakeup_flags())) {
		count_lost(HT_LOST_RINGBUF);
		return hash;
	}
	bpf_map_update_elem(&stacks_sent, &hash, &(__u8){ 1 }, BPF_ANY);
	return hash;
}

static __always_inline void kmem_alloc(__u64 *ctx, __u32 ktp, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid(), now, ptr, cache, stack_id;
	struct kmem_key key = {};
	struct ht_kmem *rec;
	__u32 flags = 0;
	long err;

	if (kslot(ctx, ktp, HT_KS_FAILED, 0))
		return;
	ptr = kslot(ctx, ktp, HT_KS_PTR, 0);
	if (!ptr || !target_flags(id >> 32))
		return;
	key.ptr = ptr;
	key.space = kmem_space(kind);
	err = bpf_map_update_elem(&kmem_live, &key, &(__u8){ 1 }, BPF_NOEXIST);
	if (err == -17 /* EEXIST */) {
		flags |= HT_F_KMEM_REUSED;
	} else if (err) {
		flags |= HT_F_KMEM_UNTRACKED;
		count_lost(HT_LOST_KMEM_TABLE);
	}
	if (filter_targets)
		flags |= HT_F_KMEM_FILTERED;
	now = bpf_ktime_get_ns();
	/* Before the record is reserved, so that a new stack comes first in the stream. */
	stack_id = kmem_stacks ? capture_kstack(ctx, ktp, id, now) : 0;
	rec = reserve(HT_REC_KMEM, sizeof(*rec), id, now, flags);
	if (!rec)
		return;
	rec->kind = kind;
	rec->op = HT_KOP_ALLOC;
	rec->order = kslot(ctx, ktp, HT_KS_ORDER, 0);
	rec->node = (__s32)kslot(ctx, ktp, HT_KS_NODE, (__u64)-1);
	rec->ptr = ptr;
	rec->call_site = kslot(ctx, ktp, HT_KS_CALL_SITE, 0);
	rec->bytes_req = kslot(ctx, ktp, HT_KS_REQ, 0);
	rec->bytes_alloc = kslot(ctx, ktp, HT_KS_ALLOC, rec->bytes_req);
	rec->gfp_flags = kslot(ctx, ktp, HT_KS_GFP, 0);
	cache = kslot(ctx, ktp, HT_KS_CACHE, 0);
	rec->cache = cache;
	rec->cache_name[0] = 0;
	if (cache) {
		struct kmem_cache *s = (void *)cache;
		const char *name = BPF_CORE_READ(s, name);

		/* Linux 6.1 passes the sizes, later ones the cache. */
		if (ktp_layout[ktp].idx[HT_KS_REQ] == HT_ARG_NONE) {
			rec->bytes_req = BPF_CORE_READ(s, object_size);
			rec->bytes_alloc = BPF_CORE_READ(s, size);
		}
		bpf_probe_read_kernel_str(rec->cache_name, sizeof(rec->cache_name), name);
	}
	if (kind == HT_KA_PAGE) {
		rec->bytes_req = rec->bytes_alloc = 4096ull << (rec->order & 31);
	}
	rec->stack_id = stack_id;
	bpf_ringbuf_submit(rec, wakeup_flags());
}

/* Frees in any context, of any process: only those of allocations seen made are sent. */
static __always_inline void kmem_free(__u64 *ctx, __u32 ktp, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid(), ptr;
	struct kmem_key key = {};
	struct ht_kmem *rec;

	ptr = kslot(ctx, ktp, HT_KS_PTR, 0);
	if (!ptr)
		return;
	key.ptr = ptr;
	key.space = kmem_space(kind);
	if (bpf_map_delete_elem(&kmem_live, &key))
		return;
	rec = reserve(HT_REC_KMEM, sizeof(*rec), id, bpf_ktime_get_ns(), 0);
	if (!rec)
		return;
	__builtin_memset(&rec->kind, 0, sizeof(*rec) - sizeof(rec->hdr));
	rec->kind = kind;
	rec->op = HT_KOP_FREE;
	rec->order = kslot(ctx, ktp, HT_KS_ORDER, 0);
	rec->node = -1;
	rec->ptr = ptr;
	rec->call_site = kslot(ctx, ktp, HT_KS_CALL_SITE, 0);
	bpf_ringbuf_submit(rec, wakeup_flags());
}

#define KMEM_TP(tp, ktp, fn, kind)                                                                 \
	SEC("raw_tp/" #tp)                                                                         \
	int ktp_##tp(__u64 *ctx)                                                                   \
	{                                                                                          \
		fn(ctx, ktp, kind);                                                                \
		return 0;                                                                          \
	}

/*
 * Frees get a second copy of their program on the same tracepoint. The kernel skips a program
 * that is already running on this CPU, and softirqs run RCU callbacks (batches of frees) on
 * the way out of any interrupt, also one that landed inside our free program: the copy, not
 * running, takes those. Both see every other free; the second finds its address already gone
 * from kmem_live and sends nothing.
 */
#define KMEM_TP_FREE(tp, ktp, kind)                                                                \
	KMEM_TP(tp, ktp, kmem_free, kind)                                                          \
	SEC("raw_tp/" #tp)                                                                         \
	int ktp2_##tp(__u64 *ctx)                                                                  \
	{                                                                                          \
		kmem_free(ctx, ktp, kind);                                                         \
		return 0;                                                                          \
	}

KMEM_TP(kmalloc, HT_KTP_KMALLOC, kmem_alloc, HT_KA_KMALLOC)
KMEM_TP_FREE(kfree, HT_KTP_KFREE, HT_KA_KMALLOC)
KMEM_TP(kmem_cache_alloc, HT_KTP_CACHE_ALLOC, kmem_alloc, HT_KA_CACHE)
KMEM_TP_FREE(kmem_cache_free, HT_KTP_CACHE_FREE, HT_KA_CACHE)
KMEM_TP(mm_page_alloc, HT_KTP_PAGE_ALLOC, kmem_alloc, HT_KA_PAGE)
KMEM_TP_FREE(mm_page_free, HT_KTP_PAGE_FREE, HT_KA_PAGE)
KMEM_TP_FREE(mm_page_free_batched, HT_KTP_PAGE_FREE_BATCHED, HT_KA_PAGE)
KMEM_TP(alloc_vmap_area, HT_KTP_VMAP_ALLOC, kmem_alloc, HT_KA_VMALLOC)
KMEM_TP_FREE(free_vmap_area_noflush, HT_KTP_VMAP_FREE, HT_KA_VMALLOC)
KMEM_TP(percpu_alloc_percpu, HT_KTP_PERCPU_ALLOC, kmem_alloc, HT_KA_PERCPU)
KMEM_TP_FREE(percpu_free_percpu, HT_KTP_PERCPU_FREE, HT_KA_PERCPU)
