/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * --unwind dwarf: walking a user stack through code without frame pointers, with the unwind
 * tables userspace compiles from each module's call-frame information (user/symbols/cfi.c,
 * user/source/live/unwind.c). Included by alloc.bpf.c alone, which owns these maps (the
 * processes walked with them, unwind_procs, are shared: the fork and exec programs keep them).
 */
#ifndef HT_BPF_UNWIND_H
#define HT_BPF_UNWIND_H

#include "shared.h"

/* Every module's rows, one after another (--unwind-table-size rows). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ht_unwind_row);
} unwind_rows SEC(".maps");

/*
 * The top of the stack, copied at once when the walk begins: the frames whose return address
 * and saved rbp lie in it are read from the copy, not one user read each.
 */
#define UNWIND_WINDOW 2048 /* bytes, a power of two */
struct unwind_window {
	__u64 w[UNWIND_WINDOW / 8];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_window);
} unwind_window SEC(".maps");

struct unwind_walk_state {
	struct ht_stack *b;
	const struct ht_unwind_proc *up;
	const struct unwind_window *win; /* NULL when the copy failed */
	__u64 win_base;			 /* the address of its first byte */
	__u64 ip, sp, bp;
	__u32 n, max;
	bool cut;	   /* stopped short */
	bool unmapped;	   /* met code outside the tables */
	__u64 unmapped_pc; /* the first such address */
};

/*
 * Both searches are branch-free (the comparisons are arithmetic: a - b >> 63, which holds for
 * user addresses and 32-bit row addresses): with a branch per step the verifier walks every
 * path of every step, and the programs' load took seconds, or failed at its million
 * instructions.
 */

/* 1 when a <= b, for values below 2^63. */
static __always_inline __u64 unwind_le(__u64 a, __u64 b)
{
	return ((b - a) >> 63) ^ 1;
}

/*
 * v & (HT_UNWIND_MAPS - 1), done: clang drops a mask it proves useless, and older verifiers
 * (6.1) cannot prove it, nor follow a multiplication.
 */
static __always_inline __u64 unwind_slot(__u64 v)
{
	asm volatile("%0 &= %1" : "+r"(v) : "i"(HT_UNWIND_MAPS - 1));
	return v;
}

/* The mapping holding pc, NULL when none does. Unused slots start at HT_UNWIND_UNUSED. */
static __always_inline const struct ht_unwind_map *unwind_find_map(const struct ht_unwind_proc *up,
								   __u64 pc)
{
	const struct ht_unwind_map *m;
	__u64 i = 0;

	/* the last slot starting at or below pc: halves of HT_UNWIND_MAPS */
	for (__u64 half = HT_UNWIND_MAPS / 2; half; half >>= 1)
		i += half & -unwind_le(up->maps[unwind_slot(i + half)].start, pc);
	m = &up->maps[unwind_slot(i)];
	return m->start <= pc && pc < m->end ? m : NULL;
}

/* The row for rel (a link-time address) among a module's rows, NULL when before its first. */
static __always_inline const struct ht_unwind_row *unwind_find_row(const struct ht_unwind_map *m,
								   __u32 rel)
{
	__u32 base = m->row_first, len = m->row_count, half;
	const struct ht_unwind_row *r;

	if (!len)
		return NULL;
	/* the last row at or below rel in [base, base + len); 2^24 rows at most */
	for (int k = 0; k < 24 && len > 1; k++) {
		half = len >> 1;
		r = bpf_map_lookup_elem(&unwind_rows, &(__u32){ base + half });
		if (!r)
			return NULL;
		base += half & -(__u32)unwind_le(r->pc, rel);
		len -= half;
	}
	r = bpf_map_lookup_elem(&unwind_rows, &base);
	return r && r->pc <= rel ? r : NULL;
}

/* Eight bytes of the stack at addr: from the window when they lie in it, else read. */
static __always_inline long unwind_read(const struct unwind_walk_state *s, __u64 addr, __u64 *out)
{
	__u64 off = addr - s->win_base;

	if (s->win && off <= UNWIND_WINDOW - 8 && !(off & 7)) {
		*out = s->win->w[(off >> 3) & (UNWIND_WINDOW / 8 - 1)];
		return 0;
	}
	return bpf_probe_read_user(out, sizeof(*out), (void *)addr);
}

/* One frame: from the state at a return address to its caller's. 1 ends the walk. */
static long unwind_step(__u64 i, void *ctx)
{
	struct unwind_walk_state *s = ctx;
	const struct ht_unwind_map *m;
	const struct ht_unwind_row *r;
	__u64 pc = s->ip - 1, cfa, ra = 0, rel;
	__s64 bp_off;
	__u32 n;

	if (s->n >= s->max || s->n >= HT_MAX_STACK_DEPTH) {
		s->cut = true; /* the depth limit */
		return 1;
	}
	m = unwind_find_map(s->up, pc);
	if (!m) {
		/*
		 * Code outside every module with a table: JIT code, or a module mapped since the
		 * tables were read (userspace reads them again). One frame-pointer step, when rbp
		 * points above this frame; userspace checks what it finds as it checks any
		 * frame-pointer frame.
		 */
		if (!s->unmapped)
			s->unmapped_pc = pc;
		s->unmapped = true;
		if (s->bp < s->sp) {
			s->cut = true;
			return 1;
		}
		cfa = s->bp + 16;
		bp_off = -16;
	} else {
		rel = pc - m->bias;
		r = rel >> 32 ? NULL : unwind_find_row(m, (__u32)rel);
		if (!r) {
			s->cut = true;
			return 1;
		}
		switch (r->cfa) {
		case HT_UW_CFA_SP:
			cfa = s->sp + (__s64)r->cfa_off;
			break;
		case HT_UW_CFA_BP:
			cfa = s->bp + (__s64)r->cfa_off;
			break;
		case HT_UW_CFA_PLT:
			cfa = s->sp + 8 + ((__s64)(s->ip & 15) >= r->cfa_off ? 8 : 0);
			break;
		case HT_UW_END:
			return 1; /* the outermost frame: a whole stack */
		default:
			s->cut = true;
			return 1;
		}
		bp_off = r->bp_off;
	}
	/* the stack only grows up from one frame to its caller's */
	if (cfa <= s->sp || unwind_read(s, cfa - 8, &ra)) {
		s->cut = true;
		return 1;
	}
	if (bp_off && unwind_read(s, cfa + bp_off, &s->bp)) {
		s->cut = true;
		return 1;
	}
	if (!ra)
		return 1; /* a null return address ends a stack too (threads' start) */
	s->sp = cfa;
	s->ip = ra;
	n = s->n;
	if (n >= HT_MAX_STACK_DEPTH)
		return 1;
	s->b->frames[n] = ra;
	s->n = n + 1;
	return 0;
}

/*
 * The walk from a return address at sp (an allocator's entry: it has not touched the stack
 * nor rbp yet, see capture_stack). Frames go to b->frames from index 0; returns how many, and
 * *flags gets HT_F_STACK_DWARF, with HT_F_STACK_CUT when the walk stopped short. 0 when the
 * kernel has no bpf_loop (before 5.17): the caller walks frame pointers then.
 */
static long unwind_vma_is_file(struct task_struct *task, struct vm_area_struct *vma, void *ctx)
{
	*(bool *)ctx = vma->vm_file != NULL;
	return 0;
}

/*
 * Whether the walk met a module mapped since the tables were read: code in a file (not JIT
 * code) outside them. Then the process is stopped while userspace reads them again, and the
 * stack taken at the call's return, a few times per reading (holds_left).
 */
static __always_inline bool unwind_wants_tables(struct ht_unwind_proc *up, __u64 unmapped_pc)
{
	bool file = false;

	if (!unmapped_pc || up->holds_left <= 0 ||
	    !bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_find_vma))
		return false;
	if (bpf_find_vma(bpf_get_current_task_btf(), unmapped_pc, unwind_vma_is_file, &file, 0) ||
	    !file)
		return false;
	__sync_fetch_and_add(&up->holds_left, -1);
	return true;
}

static __always_inline __u32 unwind_walk(const struct ht_unwind_proc *up, struct ht_stack *b,
					 __u64 ret_addr, __u64 sp, __u64 bp, __u32 *flags,
					 __u64 *unmapped_pc)
{
	struct unwind_walk_state s = {
		.b = b,
		.up = up,
		.ip = ret_addr,
		.sp = sp + 8,
		.bp = bp,
		.n = 1,
		.max = stack_depth,
	};

	struct unwind_window *win;

	if (!bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_loop))
		return 0;
	/*
	 * One read of the window instead of one or two a frame (55 ns each on churn); one that
	 * fails (the window runs past the stack's end) leaves the walk reading frame by frame.
	 */
	win = bpf_map_lookup_elem(&unwind_window, &(__u32){ 0 });
	if (win && !bpf_probe_read_user(win, sizeof(*win), (void *)sp)) {
		s.win = win;
		s.win_base = sp;
	}
	b->frames[0] = ret_addr;
	bpf_loop(HT_MAX_STACK_DEPTH, unwind_step, &s, 0);
	*unmapped_pc = s.unmapped_pc;
	*flags = HT_F_STACK_DWARF | (s.cut ? HT_F_STACK_CUT : 0) |
		 (s.unmapped ? HT_F_STACK_UNMAPPED : 0);
	return s.n > HT_MAX_STACK_DEPTH ? HT_MAX_STACK_DEPTH : s.n;
}

#endif
