// SPDX-License-Identifier: GPL-2.0-only
/*
 * Allocator uprobes: which libraries to probe (the targets' libc and libstdc++, the
 * system's, --lib), and their probes: bound to each -p or -c target, and shared by every
 * process from the first fork of a target on (or from the start with -a).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/libbpf.h>
#include "util/procinfo.h"
#include "util/vec.h"
#include "source/live/tracer_int.h"
#include "util/say.h"

/*
 * Without attach cookies (before Linux 5.15): the probes of each cookie go on the copy of prog
 * that knows it (compat.c), a request to the guard each. 0, or -1 with errno.
 */
static int uprobes_attach_by_cookie(struct tracer *t, struct bpf_program *prog, const char *path,
				    pid_t pid, int ret, const unsigned long *offsets,
				    const __u64 *cookies, size_t cnt)
{
	unsigned long group[cnt];
	__u64 same[cnt];
	bool done[cnt];
	memset(done, 0, sizeof(done));
	for (size_t i = 0; i < cnt; i++) {
		size_t n = 0;
		int fd;

		if (done[i])
			continue;
		/* each copy is verified as it loads: 12 ms each in the 5.10 guest, 84 of them */
		if (tracer_stopping(t)) {
			errno = EINTR;
			return -1;
		}
		for (size_t j = i; j < cnt; j++)
			if (!done[j] && cookies[j] == cookies[i]) {
				group[n] = offsets[j];
				same[n++] = cookies[j];
				done[j] = true;
			}
		fd = compat_prog_fd(t, prog, cookies[i]);
		if (fd < 0 || guard_attach_uprobes(t, fd, false, ret, pid, path, group, same, n))
			return -1;
	}
	return 0;
}

/*
 * The probes of one library of a kind (entry-type, or return: ret), bound to pid or shared
 * (-1): their offsets and cookies (room for lp->n each), how many, and their program.
 */
static size_t uprobes_lib_set(struct tracer *t, const struct libprobes *lp, pid_t pid, int ret,
			      unsigned long *offsets, __u64 *cookies, struct bpf_program **prog)
{
	size_t cnt = 0;

	for (int i = 0; i < lp->n; i++) {
		if (ret && !lp->probes[i].uretprobe)
			continue;
		offsets[cnt] = lp->probes[i].offset;
		cookies[cnt++] = lp->probes[i].cookie | (pid == -1 ? HT_COOKIE_SHARED : 0);
	}
	if (t->uprobe_multi)
		*prog = ret ? t->skel->progs.alloc_return_multi : t->skel->progs.alloc_enter_multi;
	else if (t->compat)
		*prog = ret ? t->skel->progs.alloc_return_compat
			    : t->skel->progs.alloc_enter_compat;
	else
		*prog = ret ? t->skel->progs.alloc_return : t->skel->progs.alloc_enter;
	return cnt;
}

/*
 * Entry-type probes (function entries and ret instructions) or return probes (the functions
 * that want a uretprobe) of one library, as one uprobe_multi link or, before Linux 6.6, one
 * perf-event uprobe each. The guard makes them and is their only owner (guard.c says why).
 * 0, or -1 with errno.
 */
static int uprobes_attach_lib(struct tracer *t, const struct libprobes *lp, pid_t pid, int ret)
{
	struct bpf_program *prog;
	unsigned long offsets[lp->n];
	__u64 cookies[lp->n];
	size_t cnt = uprobes_lib_set(t, lp, pid, ret, offsets, cookies, &prog);

	if (!cnt)
		return 0;
	if (!t->caps.have[CAPS_ATTACH_COOKIE])
		return uprobes_attach_by_cookie(t, prog, lp->path, pid, ret, offsets, cookies, cnt);
	return guard_attach_uprobes(t, bpf_program__fd(prog), t->uprobe_multi, ret, pid, lp->path,
				    offsets, cookies, cnt);
}

/*
 * Entry and return probes of every allocator function in every library, bound to one process
 * (pid) or shared by every process that maps the library (-1). A bound probe traps only in its
 * process: others do not pay. Shared ones cost a fork nothing, and the programs tell targets
 * from the rest with one lookup; but every process that is not a target takes the trap of each
 * probe it reaches (the README measures it), so they come only when a target first forks.
 * 0, 1 when a stop came first (then some may be attached: they go with the guard), or -1 after
 * saying why.
 */
int uprobes_attach(struct tracer *t, pid_t pid)
{
	int err = 0;

	for (int l = 0; l < t->nlibs && !err; l++) {
		const struct libprobes *lp = t->libs[l];

		/*
		 * Return probes first: a return whose entry was not seen is ignored, while an entry
		 * whose return probe is not there yet looks like a call that never returned (a
		 * failed allocation). With -a, attaching a shared link takes long enough (every
		 * process mapping the library is patched) that a running C++ program lost 1,609 of
		 * 46,000 operator new calls so.
		 */
		for (int ret = 1; ret >= 0 && !err; ret--)
			if (uprobes_attach_lib(t, lp, pid, ret))
				err = errno ? errno : EIO; /* never 0: that would read as done */
		if (err == EINTR)
			return 1;
		if (err == ESRCH)
			say("cannot attach to pid %d: no such process", pid);
		else if (err == EPIPE)
			say("cannot attach uprobes to %s: the guard process is gone", lp->path);
		else if (err)
			say("cannot attach uprobes to %s: %s%s", lp->path, strerror(err),
			    env_perf_hint(err));
		if (t->opts.verbose && !t->probes_listed)
			for (int i = 0; !err && i < lp->n; i++)
				say("uprobe %s:%s at offset 0x%lx (%s)", lp->path,
				    lp->probes[i].symbol, (unsigned long)lp->probes[i].offset,
				    lp->probes[i].cookie & HT_COOKIE_AT_RET ? "a ret instruction"
				    : lp->probes[i].uretprobe ? "entry, and a uretprobe"
							      : "entry");
	}
	t->probes_listed = true;
	return err ? -1 : 0;
}

/*
 * Without attach cookies, the programs the shared probes will want are loaded now on a thread
 * (compat.c), while the targets run, rather than at their first fork, which stops the children
 * forked meanwhile. Best effort: what is not loaded so is loaded when wanted.
 */
void uprobes_preload_shared(struct tracer *t)
{
	struct compat_prog *want = NULL;
	size_t n = 0, cap = 0;

	if (t->caps.have[CAPS_ATTACH_COOKIE] || t->skel->bss->shared_probes)
		return;
	for (int l = 0; l < t->nlibs; l++) {
		const struct libprobes *lp = t->libs[l];

		for (int ret = 1; ret >= 0; ret--) {
			struct bpf_program *prog;
			unsigned long offsets[lp->n];
			__u64 cookies[lp->n];
			size_t cnt = uprobes_lib_set(t, lp, -1, ret, offsets, cookies, &prog);

			for (size_t i = 0; i < cnt; i++) {
				bool seen = false;

				for (size_t j = 0; j < n && !seen; j++)
					seen = want[j].prog == prog && want[j].cookie == cookies[i];
				if (seen)
					continue;
				if (!vec_room((void **)&want, n, &cap, sizeof(*want), 64)) {
					free(want);
					return;
				}
				want[n++] = (struct compat_prog){ prog, cookies[i], -1 };
			}
		}
	}
	if (n && compat_preload(t, want, n) && t->opts.verbose)
		say("cannot load the shared probes' programs beside the run: they load at the "
		    "first fork");
	free(want);
}

/*
 * From the first fork of a target on, the probes are shared: its children (held until now,
 * bpf/syscalls.bpf.c) and their children are traced without an attach each. 0 or -1.
 */
int uprobes_share(struct tracer *t)
{
	uint64_t t0 = tracer_now_ns();
	int err;

	if (t->skel->bss->shared_probes)
		return 0;
	err = uprobes_attach(t, -1);
	if (err > 0) {
		/* held children go on untraced: continued as their holds are read, or at close */
		if (t->opts.verbose && !t->share_given_up)
			say("a target forked, and a stop came while the probes were being shared "
			    "(%.1f ms): given up",
			    (double)(tracer_now_ns() - t0) / 1e6);
		t->share_given_up = true;
		return 0;
	}
	if (err)
		return -1;
	__atomic_store_n(&t->skel->bss->shared_probes, 1, __ATOMIC_SEQ_CST);
	if (t->opts.verbose)
		say("a target forked: the allocator uprobes are now shared by every process that "
		    "maps these libraries (attached in %.1f ms); processes that are not targets "
		    "take each probe's trap from now on",
		    (double)(tracer_now_ns() - t0) / 1e6);
	return 0;
}

/* Adds a library to probe unless the same file is already in the set. */
static int uprobes_add_lib(struct tracer *t, const char *path, bool required)
{
	struct libprobes *lp;
	struct stat st, other;
	int err;

	if (!path[0])
		return 0;
	if (stat(path, &st)) {
		if (!required)
			return 0;
		say("--lib %s: %s", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < t->nlibs; i++)
		if (!stat(t->libs[i]->path, &other) && other.st_ino == st.st_ino &&
		    other.st_dev == st.st_dev)
			return 0;
	if (t->nlibs == MAX_LIBS) {
		say("too many libraries to probe (at most %d)", MAX_LIBS);
		return -1;
	}
	err = probes_resolve(path, t->opts.probe_at_entry, t->opts.want_vm, t->opts.verbose, &lp)
		      ? (errno ? errno : EIO)
		      : 0;
	if (err == ENOENT) {
		if (!required)
			return 0;
		say("--lib %s: no allocator symbols (malloc, free, operator new, ...) in it", path);
		return -1;
	}
	if (err) {
		if (!required)
			return 0;
		say("--lib %s: %s", path, err == ENOEXEC ? "not an ELF file" : strerror(err));
		return -1;
	}
	t->libs[t->nlibs++] = lp;
	return 0;
}

/*
 * Which files to probe: the libc and libstdc++ that the targets map, the system ones (a target
 * that execs later maps those), and every --lib.
 */
int uprobes_collect_libs(struct tracer *t)
{
	struct proc_libs libs;
	char cxx[4096];

	for (int i = 0; i < t->opts.nlibs; i++)
		if (uprobes_add_lib(t, t->opts.libs[i], true))
			return -1;
	for (int i = 0; i < t->opts.npids; i++) {
		if (proc_find_libs(t->opts.pids[i], &libs))
			continue; /* reported when attaching */
		if (!libs.libc[0] && !t->opts.nlibs)
			say("warning: pid %d maps no libc; its allocator is not traced unless "
			    "given with --lib",
			    t->opts.pids[i]);
		if (uprobes_add_lib(t, libs.libc, false) ||
		    uprobes_add_lib(t, libs.libstdcxx, false))
			return -1;
	}
	if (!proc_find_libs(0, &libs) && uprobes_add_lib(t, libs.libc, false))
		return -1;
	find_system_libstdcxx(cxx, sizeof(cxx));
	if (uprobes_add_lib(t, cxx, false))
		return -1;
	if (!t->nlibs) {
		say("no allocator library found to probe; name one with --lib");
		return -1;
	}
	return 0;
}
