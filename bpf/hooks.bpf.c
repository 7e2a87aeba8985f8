// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel-function hooks on do_mmap, the munmap path, do_brk_flags and mprotect_fixup: fexit
 * where the kernel allows it, kprobe and kretprobe pairs where it does not.
 */
#include "shared.h"

/*
 * do_mmap and friends also see the mappings that no syscall makes (execve loading the ELF).
 * fexit where the kernel allows it (one program has the arguments and the result), kprobes
 * with kretprobes where it does not; userspace decides per hook and fills hook_layout from this
 * kernel's BTF, since the argument positions moved between releases.
 */
static const __u32 hook_kfunc[HT_HOOK_MAX] = {
	[HT_HOOK_DO_MMAP] = HT_KF_DO_MMAP,
	[HT_HOOK_DO_VMI_MUNMAP] = HT_KF_DO_MUNMAP,
	[HT_HOOK_DO_MAS_MUNMAP] = HT_KF_DO_MUNMAP,
	[HT_HOOK_DO_MUNMAP] = HT_KF_DO_MUNMAP,
	[HT_HOOK_DO_BRK_FLAGS] = HT_KF_DO_BRK_FLAGS,
	[HT_HOOK_MPROTECT_FIXUP] = HT_KF_MPROTECT_FIXUP,
	[HT_HOOK___DO_MUNMAP] = HT_KF_DO_MUNMAP,
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
HOOK_FEXIT(__do_munmap, HT_HOOK___DO_MUNMAP)

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
HOOK_KPROBE(__do_munmap, HT_HOOK___DO_MUNMAP)
