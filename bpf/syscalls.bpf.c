// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memory syscalls (brk, mmap, munmap, mprotect, mremap, madvise, mlock, shmat, ...): entry and
 * exit paired per thread on the raw_syscalls tracepoints; for hist, kept as histograms here.
 */
#include "shared.h"

/*
 * The raw_syscalls tracepoints see every syscall; this table, indexed by the kernel's syscall
 * number, says which ones matter, so that the others cost one array lookup. (Per-syscall
 * tracepoints would filter in the kernel, but each is a perf event, and tearing down a perf
 * event waits for a grace period under a global mutex: 28 of them took seconds to detach.)
 */
#define SYS_TABLE_SIZE 512

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

#define SYSF_FORK 1 /* returns in a new process: fork, vfork, clone, clone3 */

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
 * A process forked from a target before the shared uprobes existed is held: the first thing it
 * does in user mode would be to run code that no uprobe of its own watches. On its return from
 * fork it stops itself; userspace continues it once the shared uprobes are in place.
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
	hold_current_for(id, HT_F_HELD_FORK);
}

/* hist: the syscalls become histograms here (per CPU, summed by userspace), not records. */

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
