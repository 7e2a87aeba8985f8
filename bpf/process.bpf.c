// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process lifecycle: fork (children of targets become targets), exec (where a target may be
 * held until userspace read its mappings), exit and renames.
 */
#include "shared.h"
#include "sample.h"

/*
 * A process's pid in the innermost pid namespace it lives in (a container's), 0 when that is
 * the host's: the last of its pid's numbers, one per namespace level.
 */
static __always_inline __u32 ns_pid_of(struct task_struct *t)
{
	struct pid *pid = BPF_CORE_READ(t, thread_pid);
	unsigned int level = BPF_CORE_READ(pid, level);
	int nr = 0;

	if (!level || level > 32)
		return 0;
	if (bpf_core_read(&nr, sizeof(nr), &pid->numbers[level].nr))
		return 0;
	return (__u32)nr;
}

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
	/*
	 * The child is not running yet: from its first instruction it is a target, and the
	 * shared allocator uprobes see it as one; until they exist it is held on its return
	 * from fork. Its mappings are its parent's, which userspace inherits for it
	 * (user/report/report.c) until it execs (process_exec) or maps more (read when a stack
	 * falls outside them): it is held for them only when the parent's were never read.
	 */
	if (filter_targets) {
		cflags = (pflags & HT_TGT_NEED_MAPS) | (shared_probes ? 0 : HT_TGT_HOLD);
		if (bpf_map_update_elem(&targets, &child_tgid, &cflags, BPF_ANY))
			count_lost(HT_LOST_TARGETS);
	}
	/*
	 * Its mappings are its parent's: so are its unwind tables, here before its first
	 * allocation, not when userspace gets to the fork record (unwind_fork does the rest).
	 */
	if (unwind_tables) {
		struct ht_unwind_proc *up = bpf_map_lookup_elem(&unwind_procs, &parent_tgid);

		if (up && !bpf_map_update_elem(&unwind_procs, &child_tgid, up, BPF_ANY)) {
			up = bpf_map_lookup_elem(&unwind_procs, &child_tgid);
			if (up)
				up->holds_left = HT_UNWIND_HOLDS;
		}
	}
	if (sample_bytes)
		sample_fork(parent_tgid, child_tgid, bpf_ktime_get_ns());
	rec = reserve(HT_REC_FORK, sizeof(*rec),
		      ((__u64)parent_tgid << 32) | BPF_CORE_READ(parent, pid), bpf_ktime_get_ns(),
		      0);
	if (!rec)
		return 0;
	rec->child_pid = child_tgid;
	rec->child_ns_pid = ns_pid_of(child);
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
	/* nor are its old tables walked while userspace reads its new ones */
	if (unwind_tables)
		bpf_map_delete_elem(&unwind_procs, &tgid);
	if (!target_flags(tgid))
		return 0;
	/* the old program's totals, before the record that ends it */
	if (sample_bytes)
		sample_proc_end(id, tgid);
	rec = reserve(HT_REC_EXEC, sizeof(*rec), id, bpf_ktime_get_ns(), 0);
	if (!rec)
		return 0;
	rec->old_tid = old_pid;
	rec->ns_pid = ns_pid_of(task);
	bpf_get_current_comm(&rec->comm, sizeof(rec->comm));
	bpf_probe_read_kernel_str(&rec->filename, sizeof(rec->filename),
				  BPF_CORE_READ(bprm, filename));
	bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP); /* see capture_stack() */
	if (hold_at_exec && filter_targets)
		/* after the exec record: userspace sees it first */
		hold_current_for(id, HT_F_HELD_EXEC);
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
	/* its tables go here, whoever gave them (its fork, which userspace may not have seen) */
	if (unwind_tables)
		bpf_map_delete_elem(&unwind_procs, &tgid);
	/* its totals come before its exit, which retires it in the model */
	if (sample_bytes)
		sample_proc_end(id, tgid);
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
	rec->ns_pid = ns_pid_of(task);
	rec->pad0 = 0;
	bpf_ringbuf_submit(rec, BPF_RB_FORCE_WAKEUP); /* see capture_stack() */
	return 0;
}
