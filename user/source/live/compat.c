// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernels before Linux 5.15 have no attach cookies, and the allocator programs need theirs
 * (which function a probe sits on, and how). There each cookie gets its own copy of the
 * compat program, loaded with HT_COOKIE_PLACEHOLDER replaced by the cookie: a handful per
 * library (one per kind of function), made when first needed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "util/vec.h"
#include "source/live/tracer_int.h"

struct compat_prog {
	const struct bpf_program *prog;
	__u64 cookie;
	int fd;
};

/* The instructions of prog as libbpf loaded them (maps resolved), the placeholder replaced. */
static int compat_load(const struct bpf_program *prog, __u64 cookie)
{
	const struct bpf_insn *insns = bpf_program__insns(prog);
	size_t n = bpf_program__insn_cnt(prog), patched = 0;
	LIBBPF_OPTS(bpf_prog_load_opts, opts);
	struct bpf_insn *copy;
	int fd, err;

	if (!insns || !n)
		return -ENOENT;
	copy = malloc(n * sizeof(*copy));
	if (!copy)
		return -ENOMEM;
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
		return -ENOENT; /* a program built without the placeholder */
	}
	fd = bpf_prog_load(bpf_program__type(prog), bpf_program__name(prog), "GPL", copy, n, &opts);
	err = -errno;
	free(copy);
	return fd < 0 ? err : fd;
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
		return -ENOMEM;
	fd = compat_load(prog, cookie);
	if (fd < 0)
		return fd;
	c = &t->compat_progs[t->ncompat_progs++];
	c->prog = prog;
	c->cookie = cookie;
	c->fd = fd;
	if (t->opts.verbose)
		fprintf(stderr, "heaptrail: %s loaded for cookie 0x%llx (no attach cookies)\n",
			bpf_program__name(prog), (unsigned long long)cookie);
	return fd;
}

void compat_free(struct tracer *t)
{
	for (size_t i = 0; i < t->ncompat_progs; i++)
		close(t->compat_progs[i].fd);
	free(t->compat_progs);
	t->compat_progs = NULL;
	t->ncompat_progs = t->compat_progs_cap = 0;
}
