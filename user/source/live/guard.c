// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guard: a small process, forked before the BPF programs load, that outlives heaptrail by
 * a moment: it continues every process still held once heaptrail is gone, however it went
 * (SIGKILL, the OOM killer, a crash, or its own exit), and detaches the programs. It makes the
 * allocator uprobes itself and is their only owner.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include "source/live/tracer_int.h"
#include "util/vec.h"
#include "util/say.h"

/*
 * Why the links go through the guard: a process that dies of SIGKILL closes its files with the
 * signal pending, and the kernel's uprobe unregister then fails to write the original
 * instruction back ("uprobe: ... failed to unregister, leaking uprobe"), leaving breakpoints in
 * the targets. So the guard makes every uprobe itself, on heaptrail's request (the program's
 * descriptor comes with it), and heaptrail never holds one: there is no moment at which a
 * SIGKILL of heaptrail could make it a uprobe's last owner. Kernel-side links are made by
 * heaptrail and copied here, for the second reason: detaching takes a grace period per
 * perf-event link on kernels before 6.6 (seconds in all), and after a signal heaptrail exits
 * without waiting for it.
 */
/* The guard's own descriptors, moved to these numbers before everything else is closed. */
enum { GUARD_FD_HELD = 3, GUARD_FD_GATE, GUARD_FD_SOCK, GUARD_FD_PIDFD, GUARD_FD_FIRST_LINK };

#define GUARD_CMD_LINKS	  'L' /* copies of kernel-side links come with this */
#define GUARD_CMD_UPROBES 'U' /* make uprobes: struct guard_uprobes, a program with it */
#define GUARD_CMD_DETACH  'D' /* heaptrail ends: detach now and say so */
#define GUARD_MAX_PROBES  256 /* functions per library and request */

/* A request for one library's entry or return probes, bound to pid or shared (-1). */
struct guard_uprobes {
	char cmd;
	uint8_t retprobe;
	uint8_t multi; /* one uprobe_multi link (Linux 6.6), else one perf event per function */
	uint8_t pad;
	int32_t pid;
	uint32_t cnt;
	char path[PATH_MAX];
	unsigned long offsets[GUARD_MAX_PROBES];
	__u64 cookies[GUARD_MAX_PROBES];
};

/* What the guard holds: link descriptors, or uprobe perf events on kernels without perf links. */
struct guard_links {
	int *fd;
	int n;
	size_t cap;
};

static int guard_links_push(struct guard_links *l, int fd)
{
	if (!vec_room((void **)&l->fd, (size_t)l->n, &l->cap, sizeof(*l->fd), 256))
		return -1;
	l->fd[l->n++] = fd;
	return 0;
}

static void guard_set_gate(int gate_fd, uint32_t open)
{
	uint32_t key = 0;

	bpf_map_update_elem(gate_fd, &key, &open, BPF_ANY);
	/* the write is seen before the sweep that may follow reads held (bpf/shared.h) */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Continues every process in held and forgets it; returns how many holds there were. */
static int guard_sweep(int held_fd)
{
	static struct ht_held_key keys[HT_HELD_MAX];
	struct ht_held_key *prev = NULL;
	int n = 0;

	while (n < HT_HELD_MAX && !bpf_map_get_next_key(held_fd, prev, &keys[n]))
		prev = &keys[n++];
	for (int i = 0; i < n; i++) {
		kill((pid_t)keys[i].tgid, SIGCONT);
		bpf_map_delete_elem(held_fd, &keys[i]);
	}
	return n;
}

/*
 * After the gate closes a hold can still be on its way (a program that read the gate open just
 * before); it continues itself or is in held by the time a later sweep looks. Sweep for a while.
 */
static void guard_sweep_settled(int held_fd)
{
	const struct timespec pause = { 0, 20 * 1000000L };

	for (int i = 0; i < 5; i++) {
		guard_sweep(held_fd);
		nanosleep(&pause, NULL);
	}
	guard_sweep(held_fd);
}

/*
 * Receives one message into req (a command byte first) and the descriptors that came with it;
 * returns the command, 0 on EOF.
 */
static int guard_receive(int sock, struct guard_uprobes *req, int *fds, int *nfds, int max_fds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 64)];
	struct iovec iov = { req, sizeof(*req) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	ssize_t n;

	*nfds = 0;
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t cnt;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < cnt; i++) {
			int fd = ((int *)CMSG_DATA(c))[i];

			if (*nfds < max_fds)
				fds[(*nfds)++] = fd;
			else
				close(fd);
		}
	}
	if (req->cmd == GUARD_CMD_UPROBES && (size_t)n != sizeof(*req))
		return -1; /* not from heaptrail */
	return req->cmd ? req->cmd : -1;
}

/*
 * The uprobe PMU's type and its retprobe bit, from sysfs (Linux 4.17), read once. 0, or -1 with
 * errno ENOENT.
 */
static int guard_uprobe_pmu(int *type, int *retbit)
{
	static int known_type = -1, known_retbit = -1;
	char buf[64];
	FILE *f;
	int ok;

	if (known_type >= 0) {
		*type = known_type;
		*retbit = known_retbit;
		return 0;
	}
	f = fopen("/sys/bus/event_source/devices/uprobe/type", "re");
	ok = f && fscanf(f, "%d", type) == 1;
	if (f)
		fclose(f);
	f = fopen("/sys/bus/event_source/devices/uprobe/format/retprobe", "re");
	ok = ok && f && fgets(buf, sizeof(buf), f) && sscanf(buf, "config:%d", retbit) == 1;
	if (f)
		fclose(f);
	if (!ok) {
		errno = ENOENT;
		return -1;
	}
	known_type = *type;
	known_retbit = *retbit;
	return 0;
}

/*
 * One perf-event uprobe with the program on it: a perf link where the kernel has them (5.15),
 * else the event itself carries the program. Returns the descriptor to keep, or -1 with errno.
 */
static int guard_perf_uprobe(int prog_fd, const struct guard_uprobes *req, uint32_t i)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo, .perf_event.bpf_cookie = req->cookies[i]);
	struct perf_event_attr attr = { .size = sizeof(attr) };
	int type, retbit, pfd, link, err;

	if (guard_uprobe_pmu(&type, &retbit))
		return -1;
	attr.type = (uint32_t)type;
	attr.config = req->retprobe ? 1ull << retbit : 0;
	attr.config1 = (uint64_t)(uintptr_t)req->path;
	attr.config2 = req->offsets[i];
	/* a shared probe: any process; its cpu argument is then required, and any cpu does */
	pfd = (int)syscall(SYS_perf_event_open, &attr, req->pid, req->pid == -1 ? 0 : -1, -1,
			   PERF_FLAG_FD_CLOEXEC);
	if (pfd < 0)
		return -1;
	link = bpf_link_create(prog_fd, pfd, BPF_PERF_EVENT, &lo);
	if (link >= 0) {
		close(pfd); /* the link holds the event */
		return link;
	}
	if (ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog_fd) || ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0)) {
		err = errno;
		close(pfd);
		errno = err;
		return -1;
	}
	return pfd;
}

/*
 * Makes the uprobes of one request and keeps them. 0, or -1 with the errno of the first that
 * failed (then none of them is kept): heaptrail is sent that errno as the answer.
 */
static int guard_make_uprobes(struct guard_links *l, int prog_fd, struct guard_uprobes *req)
{
	int first = l->n, err = 0;

	req->path[sizeof(req->path) - 1] = 0;
	if (req->cnt > GUARD_MAX_PROBES) {
		errno = EINVAL;
		return -1;
	}
	if (req->multi) {
		LIBBPF_OPTS(bpf_link_create_opts, lo);
		int link;

		lo.uprobe_multi.path = req->path;
		lo.uprobe_multi.offsets = req->offsets;
		lo.uprobe_multi.cookies = req->cookies;
		lo.uprobe_multi.cnt = req->cnt;
		lo.uprobe_multi.flags = req->retprobe ? BPF_F_UPROBE_MULTI_RETURN : 0;
		lo.uprobe_multi.pid = req->pid == -1 ? 0 : (uint32_t)req->pid;
		link = bpf_link_create(prog_fd, 0, BPF_TRACE_UPROBE_MULTI, &lo);
		if (link < 0)
			return -1;
		if (guard_links_push(l, link)) {
			close(link);
			errno = ENOMEM;
			return -1;
		}
		return 0;
	}
	for (uint32_t i = 0; i < req->cnt && !err; i++) {
		int fd = guard_perf_uprobe(prog_fd, req, i);

		if (fd < 0) {
			err = errno;
		} else if (guard_links_push(l, fd)) {
			err = ENOMEM;
			close(fd);
		}
	}
	if (err) {
		while (l->n > first)
			close(l->fd[--l->n]);
		errno = err;
		return -1;
	}
	return 0;
}

/* Last made, first let go: a library's entry probes go before its return probes. */
static void guard_release(struct guard_links *l)
{
	while (l->n > 0)
		close(l->fd[--l->n]);
}

/* The guard's life: make uprobes when asked, wait for heaptrail's end, then undo. Never returns. */
static void guard_main(void)
{
	static struct guard_uprobes req;
	struct guard_links links = { 0 };
	struct rlimit nofile;
	int fd;

	prctl(PR_SET_NAME, "heaptrail-guard");
	/* Not in heaptrail's process group: a ^C meant for heaptrail does not reach the guard. */
	setsid();
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* The OOM killer picks heaptrail, never the guard (best effort: needs CAP_SYS_RESOURCE). */
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "-1000", 5) < 0) {
			/* the guard works without it */
		}
		close(fd);
	}
	/* Before Linux 6.6 each uprobe is a descriptor: one per function, library and target. */
	if (!getrlimit(RLIMIT_NOFILE, &nofile)) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	for (;;) {
		struct pollfd pfd[2] = { { GUARD_FD_PIDFD, POLLIN, 0 },
					 { GUARD_FD_SOCK, POLLIN, 0 } };
		int cmd, fds[64], nfds;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break; /* heaptrail is gone: its own files, links included, are closed */
		if (!pfd[1].revents)
			continue;
		cmd = guard_receive(GUARD_FD_SOCK, &req, fds, &nfds, 64);
		if (cmd == 0) {
			/*
			 * EOF: heaptrail is gone, or closing in a hurry. Its copies of the kernel-side
			 * links close as it exits; ours must be the last, so that it does not detach.
			 */
			struct pollfd gone = { GUARD_FD_PIDFD, POLLIN, 0 };

			guard_set_gate(GUARD_FD_GATE, 0);
			guard_sweep(GUARD_FD_HELD);
			while (poll(&gone, 1, -1) < 0 && errno == EINTR)
				;
			break;
		}
		if (cmd == GUARD_CMD_LINKS) {
			for (int i = 0; i < nfds; i++)
				if (guard_links_push(&links, fds[i]))
					close(fds[i]); /* heaptrail's copy still detaches it */
			continue;
		}
		if (cmd == GUARD_CMD_UPROBES) {
			int32_t err = EINVAL; /* the answer: 0 or an errno */

			if (nfds == 1)
				err = guard_make_uprobes(&links, fds[0], &req)
					      ? (errno ? errno : EIO)
					      : 0;

			if (send(GUARD_FD_SOCK, &err, sizeof(err), MSG_NOSIGNAL) < 0) {
				/* heaptrail is gone: the next poll says so */
			}
		}
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		if (cmd == GUARD_CMD_DETACH) {
			/* heaptrail closed the gate, swept, and let go of its own copies */
			guard_release(&links);
			guard_sweep(GUARD_FD_HELD);
			if (write(GUARD_FD_SOCK, &(char){ GUARD_CMD_DETACH }, 1) < 0) {
				/* heaptrail waits for our exit as well */
			}
			_exit(0);
		}
	}
	/* Continue first: detaching the links can take seconds on older kernels. */
	guard_set_gate(GUARD_FD_GATE, 0);
	guard_sweep(GUARD_FD_HELD);
	guard_release(&links);
	guard_sweep_settled(GUARD_FD_HELD);
	_exit(0);
}

/* Moves fd to want (which is free or one of ours already moved there). */
static int guard_move_fd(int fd, int want)
{
	if (fd == want)
		return 0;
	return dup2(fd, want) == want ? 0 : -1;
}

/*
 * Before the programs load: makes the held map and the gate, has the skeleton use them, and
 * forks the guard. 0, or -1 after saying why.
 */
int guard_start(struct tracer *t)
{
	int held, gate, sv[2], pidfd, devnull;
	pid_t pid;

	held = bpf_map_create(BPF_MAP_TYPE_HASH, "held", sizeof(struct ht_held_key),
			      sizeof(uint32_t), HT_HELD_MAX, NULL);
	gate = bpf_map_create(BPF_MAP_TYPE_ARRAY, "hold_gate", sizeof(uint32_t), sizeof(uint32_t),
			      1, NULL);
	if (held < 0 || gate < 0 || bpf_map__reuse_fd(t->skel->maps.held, held) ||
	    bpf_map__reuse_fd(t->skel->maps.hold_gate, gate)) {
		say("cannot make the map of held processes: %s", strerror(errno));
		return -1;
	}
	t->held_fd = held;
	t->gate_fd = gate;
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		say("cannot start the guard: %s", strerror(errno));
		if (pidfd >= 0)
			close(pidfd);
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		say("cannot start the guard: fork: %s", strerror(errno));
		close(pidfd);
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		/* Keep only ours, at fixed numbers (none of them is below 3 here). */
		int fds[4] = { held, gate, sv[1], pidfd };

		for (int i = 0; i < 4; i++) {
			int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 100);

			if (d < 0)
				_exit(1);
			fds[i] = d;
		}
		for (int i = 0; i < 4; i++)
			if (guard_move_fd(fds[i], GUARD_FD_HELD + i))
				_exit(1);
		syscall(SYS_close_range, GUARD_FD_FIRST_LINK, ~0u, 0);
		devnull = open("/dev/null", O_RDWR);
		if (devnull >= 0) {
			dup2(devnull, 0);
			dup2(devnull, 1);
			dup2(devnull, 2);
			if (devnull > 2)
				close(devnull);
		}
		guard_main();
	}
	close(pidfd);
	close(sv[1]);
	t->guard_sock = sv[0];
	t->guard_pid = pid;
	t->skel->rodata->guard_pid = (uint32_t)pid;
	return 0;
}

/* After load: holds may be made from now on. */
void guard_open_gate(struct tracer *t)
{
	guard_set_gate(t->gate_fd, 1);
}

/* Hands copies of kernel-side links to the guard (the top of this file). 0 or -1 after saying why. */
int guard_keep_links(struct tracer *t, struct bpf_link **links, int n)
{
	for (int i = 0; i < n;) {
		int batch = n - i > 64 ? 64 : n - i;
		char byte = GUARD_CMD_LINKS, cbuf[CMSG_SPACE(sizeof(int) * 64)];
		struct iovec iov = { &byte, 1 };
		struct msghdr msg = { .msg_iov = &iov,
				      .msg_iovlen = 1,
				      .msg_control = cbuf,
				      .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)batch) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

		memset(cbuf, 0, sizeof(cbuf));
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)batch);
		for (int j = 0; j < batch; j++)
			((int *)CMSG_DATA(c))[j] = bpf_link__fd(links[i + j]);
		if (sendmsg(t->guard_sock, &msg, MSG_NOSIGNAL) != 1) {
			say("cannot hand the links to the guard: %s", strerror(errno));
			return -1;
		}
		i += batch;
	}
	return 0;
}

/*
 * Waits for the guard's answer to a request, unless a stop comes first: making a library's
 * probes shared takes a grace period per probe before Linux 6.6, seconds under emulation, and
 * a stop is answered at once. The guard finishes the request alone and the answer is left
 * unread (guard_owes_reply). 0, or -1 with errno: the guard's (its answer), EINTR (given up for
 * a stop) or EPIPE (the guard is gone).
 */
static int guard_answer(struct tracer *t)
{
	struct pollfd pfd = { t->guard_sock, POLLIN, 0 };
	int32_t err;
	ssize_t n;

	for (;;) {
		if (tracer_stopping(t)) {
			t->guard_owes_reply = true;
			errno = EINTR;
			return -1;
		}
		/* the signal interrupts the poll; the timeout covers one that came just before */
		if (poll(&pfd, 1, 50) > 0)
			break;
	}
	do
		n = recv(t->guard_sock, &err, sizeof(err), 0);
	while (n < 0 && errno == EINTR);
	errno = n == sizeof(err) ? err : EPIPE;
	return errno ? -1 : 0;
}

/*
 * Has the guard make the entry (or return: ret) uprobes of a library at offsets, with their
 * cookies, bound to pid or shared (-1), running prog: one uprobe_multi link (multi) or one
 * perf event per function. 0, or -1 with errno (EPIPE: the guard is gone; EINTR: a stop came
 * first; guard_answer).
 */
int guard_attach_uprobes(struct tracer *t, int prog_fd, bool multi, bool ret, pid_t pid,
			 const char *path, const unsigned long *offsets, const __u64 *cookies,
			 size_t cnt)
{
	static struct guard_uprobes req;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { &req, sizeof(req) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	if (tracer_stopping(t) || t->guard_owes_reply) {
		errno = EINTR;
		return -1;
	}
	if (cnt > GUARD_MAX_PROBES || strlen(path) >= sizeof(req.path)) {
		errno = E2BIG;
		return -1;
	}
	memset(&req, 0, sizeof(req));
	req.cmd = GUARD_CMD_UPROBES;
	req.retprobe = ret;
	req.multi = multi;
	req.pid = pid;
	req.cnt = (uint32_t)cnt;
	strcpy(req.path, path);
	memcpy(req.offsets, offsets, cnt * sizeof(*offsets));
	memcpy(req.cookies, cookies, cnt * sizeof(*cookies));
	memset(cbuf, 0, sizeof(cbuf));
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &prog_fd, sizeof(int));
	if (sendmsg(t->guard_sock, &msg, MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
		errno = EPIPE;
		return -1;
	}
	return guard_answer(t);
}

/* A held process whose record the consumer has seen: continued, then that hold forgotten. */
void guard_continue(struct tracer *t, const struct ht_hdr *held_rec)
{
	struct ht_held_key key = { .tgid = held_rec->pid, .ts_ns = held_rec->ts_ns };

	/* In this order: were we to die in between, the guard continues it again, harmlessly. */
	kill((pid_t)key.tgid, SIGCONT);
	bpf_map_delete_elem(t->held_fd, &key);
}

/*
 * Closing, before the links are let go: no new holds, every held process continued. (A hold a
 * program was making as the gate closed is continued by the program itself, or is in held for
 * the guard's sweeps.)
 */
void guard_stop(struct tracer *t)
{
	if (t->gate_fd >= 0)
		guard_set_gate(t->gate_fd, 0);
	if (t->held_fd >= 0)
		guard_sweep(t->held_fd);
}

/*
 * Closing, last, with heaptrail's own links closed: the guard detaches the programs, and
 * heaptrail waits for it (wait), or exits meanwhile (after a signal: seconds on old kernels).
 */
void guard_free(struct tracer *t, bool wait)
{
	char ack;

	/* An answer still to come would be read as the guard's word that it let go. */
	if (wait && !t->guard_owes_reply && t->guard_pid > 0 &&
	    send(t->guard_sock, &(char){ GUARD_CMD_DETACH }, 1, MSG_NOSIGNAL) == 1) {
		while (read(t->guard_sock, &ack, 1) < 0 && errno == EINTR)
			;
		while (waitpid(t->guard_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	if (t->held_fd >= 0)
		close(t->held_fd);
	if (t->gate_fd >= 0)
		close(t->gate_fd);
	if (t->guard_sock >= 0)
		close(t->guard_sock);
	t->held_fd = t->gate_fd = t->guard_sock = -1;
	/* heaptrail's child: reaped by whoever adopts it once heaptrail is gone */
	t->guard_pid = 0;
}
