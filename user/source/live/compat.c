// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernels before Linux 5.15 have no attach cookies, and the allocator programs need theirs
 * (which function a probe sits on, and how). There each cookie gets its own copy of the
 * compat program, loaded with HT_COOKIE_PLACEHOLDER replaced by the cookie: a handful per
 * library (one per kind of function), made when first needed; those of the shared probes are
 * loaded beside the run by a thread (compat_preload), before the first fork needs them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "util/vec.h"
#include "source/live/tracer_int.h"
#include "util/say.h"

/*
 * The copies the shared probes will want, loaded by a thread while the run goes on. Loading
 * verifies each: ~40 of them took 1.0-1.9 s in the 5.10 guest, and every child a target forks
 * meanwhile is stopped until the shared probes are in (uprobes_share). The thread touches only
 * this; the loop takes its work once it has ended (compat_prog_fd joins it).
 */
struct compat_preload {
	pthread_t thread;
	struct compat_prog *progs; /* fd: the copy, or -1: loaded when asked, as before */
	size_t n;
	int stop; /* the run ends: leave the rest (atomic) */
	bool joined;
	uint64_t ns; /* how long the thread took (-v) */
};

/*
 * The instructions of prog as libbpf loaded them (maps resolved), the placeholder replaced: the
 * copy's descriptor, or -1 with errno (ENOENT: prog has no placeholder; the kernel's refusal).
 */
static int compat_load(const struct bpf_program *prog, __u64 cookie)
{
	const struct bpf_insn *insns = bpf_program__insns(prog);
	size_t n = bpf_program__insn_cnt(prog), patched = 0;
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	struct bpf_insn *copy;
	int fd;

	if (!insns || !n) {
		errno = ENOENT;
		return -1;
	}
	copy = malloc(n * sizeof(*copy));
	if (!copy)
		return -1;
	memcpy(copy, insns, n * sizeof(*copy));
	for (size_t i = 0; i + 1 < n; i++) {
		struct bpf_insn *lo = &copy[i], *hi = &copy[i + 1];

		if (lo->code != (BPF_LD | BPF_IMM | BPF_DW))
			continue;
		i++; /* the second half of a 16-byte load is never an instruction of its own */
		if (lo->src_reg ||
		    ((__u64)(__u32)lo->imm | (__u64)(__u32)hi->imm << 32) != HT_COOKIE_PLACEHOLDER)
			continue;
		lo->imm = (__s32)(__u32)cookie;
		hi->imm = (__s32)(__u32)(cookie >> 32);
		patched++;
	}
	if (!patched) {
		free(copy);
		errno = ENOENT; /* a program built without the placeholder */
		return -1;
	}
	fd = bpf_prog_load(bpf_program__type(prog), bpf_program__name(prog), "GPL", copy, n, &opts);
	if (fd < 0) {
		int err = errno;

		free(copy);
		errno = err;
		return -1;
	}
	free(copy);
	return fd;
}

static void *compat_preload_main(void *arg)
{
	struct compat_preload *pl = arg;
	uint64_t t0 = tracer_now_ns();

	for (size_t i = 0; i < pl->n; i++)
		pl->progs[i].fd = __atomic_load_n(&pl->stop, __ATOMIC_RELAXED)
					  ? -1
					  : compat_load(pl->progs[i].prog, pl->progs[i].cookie);
	pl->ns = tracer_now_ns() - t0;
	return NULL;
}

int compat_preload(struct tracer *t, const struct compat_prog *want, size_t n)
{
	struct compat_preload *pl = calloc(1, sizeof(*pl));
	int err;

	if (!pl || !(pl->progs = malloc(n * sizeof(*want)))) {
		free(pl);
		return -1;
	}
	memcpy(pl->progs, want, n * sizeof(*want));
	pl->n = n;
	if ((err = pthread_create(&pl->thread, NULL, compat_preload_main, pl))) {
		free(pl->progs);
		free(pl);
		errno = err;
		return -1;
	}
	t->compat_preload = pl;
	return 0;
}

/*
 * Waits for the thread, unless a stop comes first (-1, errno EINTR); at close (stop) it is told
 * to leave what it has not begun. The copies stay in pl.
 */
static int compat_preload_join(struct tracer *t, bool stop)
{
	struct compat_preload *pl = t->compat_preload;
	size_t loaded = 0;

	if (!pl || pl->joined)
		return 0;
	if (stop) {
		__atomic_store_n(&pl->stop, 1, __ATOMIC_RELAXED);
		pthread_join(pl->thread, NULL);
	} else {
		for (;;) {
			struct timespec until;

			if (tracer_stopping(t)) {
				errno = EINTR;
				return -1;
			}
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 50 * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			if (!pthread_timedjoin_np(pl->thread, NULL, &until))
				break;
		}
	}
	pl->joined = true;
	for (size_t i = 0; i < pl->n; i++)
		loaded += pl->progs[i].fd >= 0;
	if (t->opts.verbose && !stop)
		say("%zu of %zu programs for the shared probes were loaded beside the run, in %.1f "
		    "ms (no attach cookies)",
		    loaded, pl->n, (double)pl->ns / 1e6);
	return 0;
}

/*
 * A copy the thread loaded, now the caller's; or -1 with errno ENOENT: none (not wanted, or its
 * load failed: loaded again by the caller, to learn why), EINTR: a stop came while waiting.
 */
static int compat_preloaded(struct tracer *t, const struct bpf_program *prog, __u64 cookie)
{
	struct compat_preload *pl = t->compat_preload;
	int fd;

	for (size_t i = 0; pl && i < pl->n; i++) {
		if (pl->progs[i].prog != prog || pl->progs[i].cookie != cookie)
			continue;
		if (compat_preload_join(t, false))
			return -1;
		fd = pl->progs[i].fd;
		pl->progs[i].fd = -1;
		if (fd >= 0)
			return fd;
		break;
	}
	errno = ENOENT;
	return -1;
}

int compat_prog_fd(struct tracer *t, struct bpf_program *prog, __u64 cookie)
{
	struct compat_prog *c;
	int fd;

	for (size_t i = 0; i < t->ncompat_progs; i++)
		if (t->compat_progs[i].prog == prog && t->compat_progs[i].cookie == cookie)
			return t->compat_progs[i].fd;
	if (!vec_room((void **)&t->compat_progs, t->ncompat_progs, &t->compat_progs_cap, sizeof(*c),
		      16))
		return -1;
	fd = compat_preloaded(t, prog, cookie);
	if (fd < 0 && errno == ENOENT)
		fd = compat_load(prog, cookie);
	if (fd < 0)
		return -1;
	c = &t->compat_progs[t->ncompat_progs++];
	c->prog = prog;
	c->cookie = cookie;
	c->fd = fd;
	if (t->opts.verbose)
		say("%s loaded for cookie 0x%llx (no attach cookies)", bpf_program__name(prog),
		    (unsigned long long)cookie);
	return fd;
}

void compat_free(struct tracer *t)
{
	struct compat_preload *pl = t->compat_preload;

	if (pl) {
		compat_preload_join(t, true);
		for (size_t i = 0; i < pl->n; i++)
			if (pl->progs[i].fd >= 0)
				close(pl->progs[i].fd);
		free(pl->progs);
		free(pl);
		t->compat_preload = NULL;
	}
	for (size_t i = 0; i < t->ncompat_progs; i++)
		close(t->compat_progs[i].fd);
	free(t->compat_progs);
	t->compat_progs = NULL;
	t->ncompat_progs = t->compat_progs_cap = 0;
}
