// SPDX-License-Identifier: GPL-2.0-only
/*
 * -k at the end: waiting for the kernel to run the frees it queued (RCU) before the last read.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "source/live/tracer_int.h"
#include "util/say.h"

/*
 * The kernel frees much of what a process held after it is gone: RCU callbacks (inodes,
 * sockets) run a grace period later, in softirq context or, when softirqs take too long, in
 * ksoftirqd, which a busy machine may not schedule for a while. With -k the tracer waits for
 * every callback queued so far to have run: rcu_barrier(), which the kernel runs on a write to
 * rcutree's do_rcu_barrier parameter (lazy callbacks included) where it has one (6.12 and 6.18
 * do). Others get a grace period (membarrier's global command is synchronize_rcu()). Then it lingers while frees of
 * reported allocations keep arriving: at least KMEM_LINGER_NS, until KMEM_QUIET_NS pass
 * without one, at most KMEM_LINGER_MAX_NS.
 */
#define KMEM_LINGER_NS	   (300 * 1000000ull)
#define KMEM_QUIET_NS	   (200 * 1000000ull)
#define KMEM_LINGER_MAX_NS (5000 * 1000000ull)
#define RCU_BARRIER_PARAM  "/sys/module/rcutree/parameters/do_rcu_barrier"

/* Returns true after a full rcu_barrier(), false after only a grace period. */
static bool settle_rcu_barrier(const struct tracer *t)
{
	int fd = open(RCU_BARRIER_PARAM, O_WRONLY | O_CLOEXEC);

	if (fd >= 0 && write(fd, "1", 1) == 1) {
		close(fd);
		if (t->opts.verbose)
			say("waited for RCU callbacks (rcu_barrier)");
		return true;
	}
	if (fd >= 0)
		close(fd);
	syscall(SYS_membarrier, 1 /* MEMBARRIER_CMD_GLOBAL */, 0, 0);
	if (t->opts.verbose)
		say("no %s: waited for one RCU grace period", RCU_BARRIER_PARAM);
	return false;
}

/*
 * With -k, before the last read. After a stop (signal, -d) the barrier, or a grace period and
 * KMEM_LINGER_NS, since a live target or the whole system never goes quiet; after the last
 * target exits, the barrier and the linger until quiet.
 */
int settle_kmem(struct tracer *t, bool linger, volatile sig_atomic_t *stop)
{
	bool full = settle_rcu_barrier(t);
	uint64_t start = tracer_now_ns(), last_free = start, seen_frees = t->kmem_frees;

	if (!linger && full)
		return 0;
	while (!t->error && (!linger || !*stop)) {
		uint64_t now;

		if (ring_poll(t))
			return -1;
		now = tracer_now_ns();
		if (t->kmem_frees != seen_frees) {
			seen_frees = t->kmem_frees;
			last_free = now;
		}
		if (now >= start + KMEM_LINGER_MAX_NS ||
		    (!linger && now >= start + KMEM_LINGER_NS) ||
		    (now >= start + KMEM_LINGER_NS && now >= last_free + KMEM_QUIET_NS))
			break;
	}
	return 0;
}
