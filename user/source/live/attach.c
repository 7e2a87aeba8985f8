// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel-side attachment: the syscall table the raw_syscalls programs read, and every
 * tracepoint, hook and kernel-allocator program the options ask for.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <bpf/libbpf.h>
#include "source/live/tracer_int.h"
#include "util/say.h"

/* The calls that return in a new process, where a forked target's child may be held. */
static const long fork_nrs[] = { SYS_fork, SYS_vfork, SYS_clone, SYS_clone3 };

struct sys_tp {
	enum ht_sys sys;
	long nr;
	uint16_t nargs;
};

static const struct sys_tp sys_tps[] = {
	{ HT_SYS_BRK, SYS_brk, 1 },
	{ HT_SYS_MMAP, SYS_mmap, 6 },
	{ HT_SYS_MUNMAP, SYS_munmap, 2 },
	{ HT_SYS_MPROTECT, SYS_mprotect, 3 },
	{ HT_SYS_PKEY_MPROTECT, SYS_pkey_mprotect, 4 },
	{ HT_SYS_MREMAP, SYS_mremap, 5 },
	{ HT_SYS_MADVISE, SYS_madvise, 3 },
	{ HT_SYS_MLOCK, SYS_mlock, 2 },
	{ HT_SYS_MLOCK2, SYS_mlock2, 3 },
	{ HT_SYS_MUNLOCK, SYS_munlock, 2 },
	{ HT_SYS_MLOCKALL, SYS_mlockall, 1 },
	{ HT_SYS_MUNLOCKALL, SYS_munlockall, 0 },
	{ HT_SYS_SHMAT, SYS_shmat, 3 },
	{ HT_SYS_SHMDT, SYS_shmdt, 1 },
};

/* struct sys_info in the BPF program */
struct sys_info {
	uint32_t sys;
	uint16_t nargs;
	uint16_t flags;
};
#define SYSF_FORK 1

static int attach_sys_set(struct tracer *t, long nr, struct sys_info info)
{
	uint32_t key = (uint32_t)nr;

	if (bpf_map__update_elem(t->skel->maps.sys_table, &key, sizeof(key), &info, sizeof(info),
				 BPF_ANY)) {
		say("cannot fill the syscall table: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int attach_sys_table(struct tracer *t)
{
	if (t->opts.want_vm)
		for (size_t i = 0; i < sizeof(sys_tps) / sizeof(sys_tps[0]); i++)
			if (attach_sys_set(
				    t, sys_tps[i].nr,
				    (struct sys_info){ sys_tps[i].sys, sys_tps[i].nargs, 0 }))
				return -1;
	if (t->opts.want_alloc && !t->opts.all)
		for (size_t i = 0; i < sizeof(fork_nrs) / sizeof(fork_nrs[0]); i++)
			if (attach_sys_set(t, fork_nrs[i], (struct sys_info){ 0, 0, SYSF_FORK }))
				return -1;
	return 0;
}

static int attach_prog(struct tracer *t, struct bpf_program *prog, const char *what)
{
	struct bpf_link *link = bpf_program__attach(prog);

	if (!link) {
		int err = errno;

		say("cannot attach %s: %s%s", what, strerror(err), env_perf_hint(err));
		return -1;
	}
	if (t->opts.verbose)
		say("attached %s", what);
	return tracer_links_push(&t->links, &t->nlinks, &t->links_cap, link) ? -1 : 0;
}

static int attach_push_link(void *ctx, struct bpf_link *link)
{
	struct tracer *t = ctx;

	return tracer_links_push(&t->links, &t->nlinks, &t->links_cap, link);
}

int attach_kernel(struct tracer *t)
{
	struct heaptrail_bpf *s = t->skel;
	if (attach_prog(t, s->progs.process_fork, "raw tracepoint sched_process_fork") ||
	    attach_prog(t, s->progs.process_exec, "raw tracepoint sched_process_exec") ||
	    attach_prog(t, s->progs.process_exit, "raw tracepoint sched_process_exit") ||
	    attach_prog(t, s->progs.task_rename, "raw tracepoint task_rename"))
		return -1;
	if (t->opts.want_vm && attach_prog(t, s->progs.sys_enter, "raw tracepoint sys_enter"))
		return -1;
	if ((t->opts.want_vm || (t->opts.want_alloc && !t->opts.all)) &&
	    attach_prog(t, s->progs.sys_exit, "raw tracepoint sys_exit"))
		return -1;
	if (hooks_attach(t->hooks, s, attach_push_link, t))
		return -1;
	if (kmem_attach(t->kmem, s, attach_push_link, t) || kmem_watch_start(t->kmem, s))
		return -1;
	if (t->opts.want_fault &&
	    attach_prog(t, s->progs.page_fault_user, "tracepoint exceptions:page_fault_user"))
		return -1;
	if (t->opts.want_fault && t->opts.fault_batching &&
	    attach_prog(t, s->progs.fault_switch, "raw tracepoint sched_switch (fault batches)"))
		return -1;
	if (t->opts.want_rss && attach_prog(t, s->progs.rss_stat, "tracepoint kmem:rss_stat"))
		return -1;
	return 0;
}
