/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Inside the live source: the tracer's state, shared by the files of source/live/ (and by
 * nothing else), and what each of them offers the others.
 */
#ifndef HT_TRACER_INT_H
#define HT_TRACER_INT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include "heaptrail.h" /* before the skeleton: it names the shared types */
#include "heaptrail.skel.h"
#include "source/live/features.h"
#include "source/live/hooks.h"
#include "source/live/kmem.h"
#include "source/live/probes.h"
#include "source/live/tracer.h"
#include "util/pidset.h"

#define MAX_LIBS 8
/* Records arrive without wakeups until the buffer is an eighth full: poll this often. */
#define POLL_MS 10

/* One traced process: whether it still lives, so that the run ends when no target does. */
struct proc {
	pid_t pid;
	bool alive;
};

/* A copy of an allocator program made for one cookie (compat.c) */
struct compat_prog {
	const struct bpf_program *prog;
	__u64 cookie;
	int fd;
};

struct tracer {
	struct tracer_opts opts;
	struct heaptrail_bpf *skel;
	struct ring_buffer *rb;
	tracer_event_fn cb;
	void *cb_ctx;

	struct bpf_link **links; /* kernel-side attachments (the guard owns the uprobes) */
	int nlinks;
	size_t links_cap;

	pid_t guard_pid; /* guard.c */
	int guard_sock;	 /* to the guard: uprobe requests, link copies, the word to let go */
	int held_fd;	 /* the held map: processes stopped by a hold */
	int gate_fd;	 /* the hold gate: 1 while holds may be made */
	uint64_t holds, hold_ns, hold_max_ns; /* what the stops cost the targets (-v) */
	bool probes_listed;		      /* -v: the uprobes were listed */

	struct libprobes *libs[MAX_LIBS];
	int nlibs;

	struct proc *procs;
	int nprocs;
	size_t procs_cap;
	int nalive;
	struct pidset named; /* -a: processes named (targets.c) */
	uint64_t kmem_frees; /* frees of reported kernel allocations: the exit linger watches */
	/* at the end: frees BPF sent (kmem_frees_sent) that never came */
	uint64_t kmem_undelivered;
	/* at the end: frees the kernel made that no free program saw (kmem_watch_unseen) */
	uint64_t kmem_unseen;

	pid_t child;	  /* -c */
	int child_go_fd;  /* writing a byte lets the child exec */
	int child_err_fd; /* the child's exec errno, or EOF once it exec'd */
	int child_status;
	bool child_reaped;

	struct caps caps;		  /* what the kernel offers (features_probe_caps) */
	bool uprobe_multi;		  /* allocator probes as uprobe_multi links */
	bool compat;			  /* the compat allocator programs (alloc.bpf.c) */
	struct compat_prog *compat_progs; /* their copies per cookie (compat.c) */
	size_t ncompat_progs, compat_progs_cap;
	struct compat_preload *compat_preload; /* those of the shared probes, loading */
	struct hooks *hooks;		       /* kernel-function hooks, when any can attach */
	struct kmem *kmem;		       /* kernel-allocator tracepoints (-k) */
	struct unwind *unwind;		       /* unwind tables (--unwind), NULL: none */
	uint64_t ring_records, ring_bytes, ring_stack_bytes; /* what came through the ring (-v) */
	uint64_t kmem_nested, kmem_nested_next_ns; /* kmem_nested_misses(), read now and then */
	uint64_t lost_seen[HT_LOST_MAX];
	uint64_t start_ns;
	bool sample_ended;		/* sampled mode: an image ended since the last sweep */
	uint64_t sample_sweep_next_ns;	/* and when the next may run */
	uint64_t sample_swept;		/* live blocks of ended images deleted (-v) */
	uint64_t sample_totals_next_ns; /* sample_totals_often: when they are read next */
	uint64_t tick_ns;		/* tracer_set_tick */
	void (*tick)(void *ctx);
	void (*idle)(void *ctx); /* tracer_set_idle */
	int error;		 /* set from the callback: stops the loop */
	bool cut_short;		 /* the run ended on SIGINT, SIGTERM or a closed output */
	/* tracer_run's stop request: work that takes long in the loop gives way to it */
	volatile sig_atomic_t *stop;
	bool guard_owes_reply; /* a request was given up on: its answer is still to come */
	bool share_given_up;   /* uprobes_share gave way to a stop (said once, -v) */
};

/* A stop was requested: the loop ends, and what would delay the report is given up. */
static inline bool tracer_stopping(const struct tracer *t)
{
	return t->stop && *t->stop;
}

static inline uint64_t tracer_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* tracer.c: a link array that grows; 0, or -1 (out of memory) */
int tracer_links_push(struct bpf_link ***arr, int *n, size_t *cap, struct bpf_link *link);

/* env.c */
int env_check(const struct tracer_opts *o);
/*
 * What to add to an attach failure's message (err: the errno) when the reason is the kernel's
 * perf_event_paranoid level 3 and not our privileges: a hint, or "".
 */
const char *env_perf_hint(int err);

/* attach.c */
int attach_sys_table(struct tracer *t);
int attach_kernel(struct tracer *t);

/* uprobes.c */
int uprobes_attach(struct tracer *t, pid_t pid);
int uprobes_share(struct tracer *t);
void uprobes_preload_shared(struct tracer *t);
int uprobes_collect_libs(struct tracer *t);

/*
 * compat.c. The copy of prog for cookie, loaded once: its descriptor, or -1 with errno (EINTR: a
 * stop came first; else the kernel's refusal, for the caller to say).
 */
int compat_prog_fd(struct tracer *t, struct bpf_program *prog, __u64 cookie);
/*
 * Starts loading the copies in want (prog and cookie) on a thread of their own; compat_prog_fd
 * takes them from it. 0, or -1 with errno (nothing started: they load when asked).
 */
int compat_preload(struct tracer *t, const struct compat_prog *want, size_t n);
void compat_free(struct tracer *t);

/* guard.c */
int guard_start(struct tracer *t);
void guard_open_gate(struct tracer *t);
int guard_keep_links(struct tracer *t, struct bpf_link **links, int n);
int guard_attach_uprobes(struct tracer *t, int prog_fd, bool multi, bool ret, pid_t pid,
			 const char *path, const unsigned long *offsets, const __u64 *cookies,
			 size_t cnt);
void guard_continue(struct tracer *t, const struct ht_hdr *held_rec);
void guard_stop(struct tracer *t);
void guard_free(struct tracer *t, bool wait);

/* targets.c */
struct proc *targets_find(struct tracer *t, pid_t pid);
struct proc *targets_add(struct tracer *t, pid_t pid);
void targets_gone(struct tracer *t, struct proc *p);
pid_t targets_tgid_of(pid_t pid);
/* A pid given with -p: 0 if it can be traced, else -1 after saying why not. */
int targets_check_pid(pid_t pid);
void targets_announce_comm(struct tracer *t, pid_t pid);
int targets_attach_pids(struct tracer *t);
void targets_follow(struct tracer *t, const struct ht_hdr *rec);
void targets_check(struct tracer *t);
int targets_set(struct tracer *t, pid_t pid, uint32_t flags);

/* launch.c */
int launch_start(struct tracer *t);
int launch_release(struct tracer *t);

/* ring.c */
void ring_drain_fault_batches(struct tracer *t);
int ring_on_record(void *ctx, void *data, size_t size);
void ring_report_losses(struct tracer *t, bool final);
int ring_poll(struct tracer *t);

/* sample.c */
int sample_prepare(struct tracer *t);
void sample_announce(struct tracer *t);
void sample_report(struct tracer *t);
void sample_report_often(struct tracer *t);
void sample_sweep(struct tracer *t);

/* settle.c */
int settle_kmem(struct tracer *t, bool linger, volatile sig_atomic_t *stop);

#endif
