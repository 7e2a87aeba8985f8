// SPDX-License-Identifier: GPL-2.0-only
/*
 * The traced processes: -p targets entered in the target map with their own uprobes, forked
 * children followed (the fork program enters them; the first one shares the uprobes), exits
 * noticed, vanished targets found.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <bpf/libbpf.h>
#include "util/pidset.h"
#include "util/procinfo.h"
#include "util/vec.h"
#include "source/live/tracer_int.h"
#include "source/live/unwind.h"
#include "util/say.h"

struct proc *targets_find(struct tracer *t, pid_t pid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

struct proc *targets_add(struct tracer *t, pid_t pid)
{
	struct proc *p = targets_find(t, pid);

	if (p) {
		if (!p->alive)
			t->nalive++;
		p->alive = true;
		return p;
	}
	if (!vec_room((void **)&t->procs, (size_t)t->nprocs, &t->procs_cap, sizeof(*t->procs), 16))
		return NULL;
	p = &t->procs[t->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->alive = true;
	t->nalive++;
	return p;
}

void targets_gone(struct tracer *t, struct proc *p)
{
	if (!p->alive)
		return;
	p->alive = false;
	t->nalive--;
}

int targets_set(struct tracer *t, pid_t pid, uint32_t flags)
{
	if (bpf_map__update_elem(t->skel->maps.targets, &pid, sizeof(pid), &flags, sizeof(flags),
				 BPF_ANY)) {
		say("cannot add pid %d to the target map: %s", pid, strerror(errno));
		return -1;
	}
	return 0;
}

/* The thread-group id of pid: a thread id given to -p means its whole process. */
pid_t targets_tgid_of(pid_t pid)
{
	char path[64], line[256];
	pid_t tgid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

int targets_check_pid(pid_t pid)
{
	static const char *const why[] = {
		[PROC_NONE] = "no such process",
		[PROC_ZOMBIE] = "it has exited (a zombie its parent has not reaped)",
		[PROC_KTHREAD] = "it is a kernel thread, without user memory to trace",
	};
	enum proc_kind kind = targets_tgid_of(pid) < 0 ? PROC_NONE : proc_kind_of(pid);

	if (kind == PROC_USER)
		return 0;
	say("cannot attach to pid %d: %s", pid, why[kind]);
	return -1;
}

/* A process that was running before we came: its name, as if it had just set it. */
void targets_announce_comm(struct tracer *t, pid_t pid)
{
	struct ht_comm rec = { .hdr = { .type = HT_REC_COMM,
					.size = sizeof(rec),
					.ts_ns = tracer_now_ns(),
					.pid = (uint32_t)pid,
					.tid = (uint32_t)pid } };
	proc_comm(pid, 0, rec.comm, sizeof(rec.comm));
	rec.ns_pid = proc_ns_pid(pid);
	t->cb(t->cb_ctx, &rec.hdr);
}

int targets_attach_pids(struct tracer *t)
{
	for (int i = 0; i < t->opts.npids; i++) {
		pid_t pid = t->opts.pids[i], tgid = targets_tgid_of(pid);
		uint32_t flags = t->opts.want_alloc ? HT_TGT_PRIVATE : 0;
		struct proc *p;

		/* again: tracer_open checked before loading, and it may have gone since */
		if (targets_check_pid(pid))
			return -1;

		/*
		 * Its mappings are read now, while it runs (the comm record has the consumer
		 * snapshot them), and its unwind tables compiled before its probes go live: this
		 * one-time work is done before "tracing" is said, not in the loop a stop must
		 * interrupt. NEED_MAPS only while its probes are attached: an allocation then
		 * stops it until the loop runs, so that no call straddles probes half attached
		 * (one uprobe per function before Linux 6.6: the 6.1 guest mis-paired calls of
		 * cxx_churn without it). Cleared after, so that the children it forks are not
		 * stopped at their first allocation (they inherit the flag).
		 */
		if (targets_set(t, tgid,
				flags | (t->skel->rodata->hold_for_maps ? HT_TGT_NEED_MAPS : 0)))
			return -1;
		targets_announce_comm(t, tgid);
		unwind_process(t->unwind, tgid);
		p = targets_add(t, tgid);
		if (!p || (t->opts.want_alloc && uprobes_attach(t, tgid)) ||
		    targets_set(t, tgid, flags))
			return -1;
		if (!proc_alive(tgid)) {
			say("cannot attach to pid %d: it exited while attaching", pid);
			return -1;
		}
	}
	return 0;
}

/*
 * -a: a process first seen by a record that does not name it was running before we came: it is
 * named from /proc now, while it lives (a fork or exec record names the others).
 */
static void targets_name_newcomer(struct tracer *t, const struct ht_hdr *rec)
{
	uint32_t pid = rec->pid;

	if (rec->type == HT_REC_FORK)
		pidset_add(&t->named, ((const struct ht_fork *)rec)->child_pid);
	if (!pid || pidset_has(&t->named, pid))
		return;
	if (pidset_add(&t->named, pid))
		return; /* out of memory: named lazily, as before */
	if (rec->type != HT_REC_EXEC && rec->type != HT_REC_COMM)
		targets_announce_comm(t, (pid_t)pid);
}

/* Records that change what is traced are acted upon before the consumer sees them. */
void targets_follow(struct tracer *t, const struct ht_hdr *rec)
{
	struct proc *p;

	if (t->opts.all)
		targets_name_newcomer(t, rec);
	switch (rec->type) {
	case HT_REC_FORK:
		/* the fork program made it a target already, held until the probes are shared */
		if (t->opts.all)
			break;
		if (!targets_add(t, ((const struct ht_fork *)rec)->child_pid) || uprobes_share(t))
			t->error = -1;
		break;
	case HT_REC_EXIT:
		pidset_remove(&t->named, rec->pid); /* its pid may come back as another process */
		p = targets_find(t, rec->pid);
		if (p)
			targets_gone(t, p);
		break;
	}
}

/* Targets can vanish without an exit record (lost, or killed while we attached). */
void targets_check(struct tracer *t)
{
	if (t->child && !t->child_reaped &&
	    waitpid(t->child, &t->child_status, WNOHANG) == t->child)
		t->child_reaped = true;
	for (int i = 0; i < t->nprocs; i++) {
		struct proc *p = &t->procs[i];

		if (p->alive && !proc_alive(p->pid))
			targets_gone(t, p);
	}
}
