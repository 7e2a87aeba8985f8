// SPDX-License-Identifier: GPL-2.0-only
/*
 * The live source. Load sequence: check the environment, open the skeleton, size the maps and
 * switch off programs nobody asked for, load, fill the maps, attach (kernel side from one table,
 * allocator uprobes per target process), then poll the ring buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "heaptrail.h" /* before the skeleton: it names the shared types */
#include "heaptrail.skel.h"
#include "record/event.h"
#include "source/live/hooks.h"
#include "source/live/kmem.h"
#include "source/live/probes.h"
#include "util/procinfo.h"
#include "source/live/tracer.h"

#define MAX_LIBS 8
/* Records arrive without wakeups until the buffer is an eighth full: poll this often. */
#define POLL_MS 10

/* One traced process: its uprobe links, so that they go when it does. */
struct proc {
	pid_t pid;
	bool alive;
	bool hold_pending; /* forked: will stop itself, or has, until we send SIGCONT */
	struct bpf_link **links;
	int nlinks;
};

struct tracer {
	struct tracer_opts opts;
	struct heaptrail_bpf *skel;
	struct ring_buffer *rb;
	tracer_event_fn cb;
	void *cb_ctx;

	struct bpf_link **links; /* kernel-side attachments */
	int nlinks, links_cap;

	struct libprobes *libs[MAX_LIBS];
	int nlibs;

	struct proc *procs;
	int nprocs, procs_cap;
	int nalive;
	uint64_t kmem_frees; /* frees of reported kernel allocations: the exit linger watches */

	pid_t child;	  /* -c */
	int child_go_fd;  /* writing a byte lets the child exec */
	int child_err_fd; /* the child's exec errno, or EOF once it exec'd */
	int child_status;
	bool child_reaped;

	bool uprobe_multi;			   /* the kernel has uprobe_multi links */
	struct hooks *hooks;			   /* kernel-function hooks, when any can attach */
	struct kmem *kmem;			   /* kernel-allocator tracepoints (-k) */
	uint64_t kmem_nested, kmem_nested_next_ns; /* kmem_nested_misses(), read now and then */
	uint64_t lost_seen[HT_LOST_MAX];
	uint64_t start_ns;
	uint64_t tick_ns; /* tracer_set_tick */
	void (*tick)(void *ctx);
	int error; /* set from the callback: stops the loop */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
	return 0;
}

static int libbpf_verbose(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int links_push(struct bpf_link ***arr, int *n, int *cap, struct bpf_link *link)
{
	if (*n == *cap) {
		int ncap = *cap ? *cap * 2 : 64;
		struct bpf_link **p = realloc(*arr, (size_t)ncap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*arr = p;
		*cap = ncap;
	}
	(*arr)[(*n)++] = link;
	return 0;
}

/* Keeps a link just made, or says why there is none: 0 or -errno. */
static int keep_link(struct bpf_link *link, struct bpf_link ***links, int *n, int *cap)
{
	if (!link)
		return -errno;
	if (links_push(links, n, cap, link)) {
		bpf_link__destroy(link);
		return -ENOMEM;
	}
	return 0;
}

/* ---------------------------------------------------------------- environment */

static bool has_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {};

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &hdr, data))
		return false;
	/* CAP_BPF (39) and CAP_PERFMON (38) live in the second word; CAP_SYS_ADMIN covers both. */
	if (data[0].effective & (1u << CAP_SYS_ADMIN))
		return true;
	return (data[1].effective & (1u << (39 - 32))) && (data[1].effective & (1u << (38 - 32)));
}

/* libbpf finds tracepoint ids through tracefs; mount it when nobody has. */
static int ensure_tracefs(bool verbose)
{
	if (!access("/sys/kernel/tracing/events", F_OK) ||
	    !access("/sys/kernel/debug/tracing/events", F_OK))
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL)) {
		fprintf(stderr, "heaptrail: cannot mount tracefs on /sys/kernel/tracing: %s\n",
			strerror(errno));
		return -1;
	}
	if (verbose)
		fprintf(stderr, "heaptrail: mounted tracefs on /sys/kernel/tracing\n");
	return 0;
}

static int check_environment(const struct tracer_opts *o)
{
	if (!has_caps()) {
		fprintf(stderr, "heaptrail: needs root (or CAP_BPF and CAP_PERFMON) to load BPF "
				"programs; try sudo\n");
		return -1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		fprintf(stderr,
			"heaptrail: kernel BTF not found (/sys/kernel/btf/vmlinux): %s; "
			"needs a kernel built with CONFIG_DEBUG_INFO_BTF=y\n",
			strerror(errno));
		return -1;
	}
	return ensure_tracefs(o->verbose);
}

/* ---------------------------------------------------------------- kernel-side attachment */

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

/* The calls that return in a new process, where a forked target's child is held. */
static const long fork_nrs[] = { SYS_fork, SYS_vfork, SYS_clone, SYS_clone3 };

/* struct sys_info in the BPF program */
struct sys_info {
	uint32_t sys;
	uint16_t nargs;
	uint16_t flags;
};
#define SYSF_FORK 1

static int sys_table_set(struct tracer *t, long nr, struct sys_info info)
{
	uint32_t key = (uint32_t)nr;

	if (bpf_map__update_elem(t->skel->maps.sys_table, &key, sizeof(key), &info, sizeof(info),
				 BPF_ANY)) {
		fprintf(stderr, "heaptrail: cannot fill the syscall table: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int fill_sys_table(struct tracer *t)
{
	if (t->opts.want_vm)
		for (size_t i = 0; i < sizeof(sys_tps) / sizeof(sys_tps[0]); i++)
			if (sys_table_set(t, sys_tps[i].nr,
					  (struct sys_info){ sys_tps[i].sys, sys_tps[i].nargs, 0 }))
				return -1;
	if (!t->opts.all)
		for (size_t i = 0; i < sizeof(fork_nrs) / sizeof(fork_nrs[0]); i++)
			if (sys_table_set(t, fork_nrs[i], (struct sys_info){ 0, 0, SYSF_FORK }))
				return -1;
	return 0;
}

static int attach_prog(struct tracer *t, struct bpf_program *prog, const char *what)
{
	struct bpf_link *link = bpf_program__attach(prog);

	if (!link) {
		fprintf(stderr, "heaptrail: cannot attach %s: %s\n", what, strerror(errno));
		return -1;
	}
	if (t->opts.verbose)
		fprintf(stderr, "heaptrail: attached %s\n", what);
	return links_push(&t->links, &t->nlinks, &t->links_cap, link) ? -1 : 0;
}

static int push_kernel_link(void *ctx, struct bpf_link *link)
{
	struct tracer *t = ctx;

	return links_push(&t->links, &t->nlinks, &t->links_cap, link);
}

static int attach_kernel(struct tracer *t)
{
	struct heaptrail_bpf *s = t->skel;
	if (attach_prog(t, s->progs.process_fork, "raw tracepoint sched_process_fork") ||
	    attach_prog(t, s->progs.process_exec, "raw tracepoint sched_process_exec") ||
	    attach_prog(t, s->progs.process_exit, "raw tracepoint sched_process_exit") ||
	    attach_prog(t, s->progs.task_rename, "raw tracepoint task_rename"))
		return -1;
	if (t->opts.want_vm && attach_prog(t, s->progs.sys_enter, "raw tracepoint sys_enter"))
		return -1;
	if ((t->opts.want_vm || !t->opts.all) &&
	    attach_prog(t, s->progs.sys_exit, "raw tracepoint sys_exit"))
		return -1;
	if (hooks_attach(t->hooks, s, push_kernel_link, t))
		return -1;
	if (kmem_attach(t->kmem, s, push_kernel_link, t))
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

/* ---------------------------------------------------------------- allocator uprobes */

static struct proc *proc_find(struct tracer *t, pid_t pid)
{
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].pid == pid)
			return &t->procs[i];
	return NULL;
}

static struct proc *proc_add(struct tracer *t, pid_t pid)
{
	struct proc *p = proc_find(t, pid);

	if (p) {
		if (!p->alive)
			t->nalive++;
		p->alive = true;
		return p;
	}
	if (t->nprocs == t->procs_cap) {
		int ncap = t->procs_cap ? t->procs_cap * 2 : 16;
		struct proc *np = realloc(t->procs, (size_t)ncap * sizeof(*np));

		if (!np)
			return NULL;
		t->procs = np;
		t->procs_cap = ncap;
	}
	p = &t->procs[t->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->alive = true;
	t->nalive++;
	return p;
}

static void proc_detach(struct proc *p)
{
	for (int i = 0; i < p->nlinks; i++)
		bpf_link__destroy(p->links[i]);
	free(p->links);
	p->links = NULL;
	p->nlinks = 0;
}

static void proc_gone(struct tracer *t, struct proc *p)
{
	if (!p->alive)
		return;
	p->alive = false;
	t->nalive--;
	proc_detach(p);
}

/*
 * Entry-type probes (function entries and ret instructions) or return probes (the functions
 * that want a uretprobe) of one library, as one uprobe_multi link or, before Linux 6.6, one
 * perf-event uprobe each.
 */
static int attach_lib(struct tracer *t, const struct libprobes *lp, pid_t pid, int ret,
		      struct bpf_link ***links, int *n, int *cap)
{
	struct bpf_program *prog;
	unsigned long offsets[lp->n];
	__u64 cookies[lp->n];
	struct bpf_link *link;
	size_t cnt = 0;

	for (int i = 0; i < lp->n; i++) {
		if (ret && !lp->probes[i].uretprobe)
			continue;
		offsets[cnt] = lp->probes[i].offset;
		cookies[cnt++] = lp->probes[i].cookie;
	}
	if (!cnt)
		return 0;
	if (t->uprobe_multi) {
		LIBBPF_OPTS(bpf_uprobe_multi_opts, mo, .offsets = offsets, .cookies = cookies,
			    .cnt = cnt, .retprobe = ret);

		prog = ret ? t->skel->progs.alloc_return_multi : t->skel->progs.alloc_enter_multi;
		link = bpf_program__attach_uprobe_multi(prog, pid, lp->path, NULL, &mo);
		return keep_link(link, links, n, cap);
	}
	prog = ret ? t->skel->progs.alloc_return : t->skel->progs.alloc_enter;
	for (size_t i = 0; i < cnt; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .bpf_cookie = cookies[i], .retprobe = ret);
		int err;

		link = bpf_program__attach_uprobe_opts(prog, pid, lp->path, offsets[i], &uo);
		err = keep_link(link, links, n, cap);
		if (err)
			return err;
	}
	return 0;
}

/*
 * Entry and return probes of every allocator function in every library, for one process (pid)
 * or for all (-1). A uprobe bound to a pid traps only in that process: others do not pay.
 */
static int attach_uprobes(struct tracer *t, pid_t pid, struct bpf_link ***links, int *n)
{
	int cap = *n;

	for (int l = 0; l < t->nlibs; l++) {
		const struct libprobes *lp = t->libs[l];

		for (int ret = 0; ret < 2; ret++) {
			int err = attach_lib(t, lp, pid, ret, links, n, &cap);

			if (err == -ESRCH) {
				fprintf(stderr,
					"heaptrail: cannot attach to pid %d: no such process\n",
					pid);
				return err;
			}
			if (err) {
				fprintf(stderr, "heaptrail: cannot attach uprobes to %s: %s\n",
					lp->path, strerror(-err));
				return err;
			}
		}
		if (t->opts.verbose && (pid == -1 || pid == t->child || !t->child))
			for (int i = 0; i < lp->n; i++)
				fprintf(stderr, "heaptrail: uprobe %s:%s at offset 0x%lx (%s)%s\n",
					lp->path, lp->probes[i].symbol,
					(unsigned long)lp->probes[i].offset,
					lp->probes[i].cookie & HT_COOKIE_AT_RET
						? "a ret instruction"
					: lp->probes[i].uretprobe ? "entry, and a uretprobe"
								  : "entry",
					pid == -1 ? ", every process" : "");
	}
	return 0;
}

static int attach_proc_uprobes(struct tracer *t, struct proc *p)
{
	int err;

	if (!t->opts.want_alloc || t->opts.all || p->nlinks)
		return 0;
	err = attach_uprobes(t, p->pid, &p->links, &p->nlinks);
	if (err)
		proc_detach(p);
	return err;
}

/* Adds a library to probe unless the same file is already in the set. */
static int add_lib(struct tracer *t, const char *path, bool required)
{
	struct libprobes *lp;
	struct stat st, other;
	int err;

	if (!path[0])
		return 0;
	if (stat(path, &st)) {
		if (!required)
			return 0;
		fprintf(stderr, "heaptrail: --lib %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (int i = 0; i < t->nlibs; i++)
		if (!stat(t->libs[i]->path, &other) && other.st_ino == st.st_ino &&
		    other.st_dev == st.st_dev)
			return 0;
	if (t->nlibs == MAX_LIBS) {
		fprintf(stderr, "heaptrail: too many libraries to probe (at most %d)\n", MAX_LIBS);
		return -1;
	}
	err = libprobes_resolve(path, t->opts.probe_at_entry, t->opts.want_vm, t->opts.verbose,
				&lp);
	if (err == -ENOENT) {
		if (!required)
			return 0;
		fprintf(stderr,
			"heaptrail: --lib %s: no allocator symbols (malloc, free, operator "
			"new, ...) in it\n",
			path);
		return -1;
	}
	if (err) {
		if (!required)
			return 0;
		fprintf(stderr, "heaptrail: --lib %s: %s\n", path,
			err == -ENOEXEC ? "not an ELF file" : strerror(-err));
		return -1;
	}
	t->libs[t->nlibs++] = lp;
	return 0;
}

/*
 * Which files to probe: the libc and libstdc++ that the targets map, the system ones (a target
 * that execs later maps those), and every --lib.
 */
static int collect_libs(struct tracer *t)
{
	struct proc_libs libs;
	char cxx[4096];

	for (int i = 0; i < t->opts.nlibs; i++)
		if (add_lib(t, t->opts.libs[i], true))
			return -1;
	for (int i = 0; i < t->opts.npids; i++) {
		if (proc_find_libs(t->opts.pids[i], &libs))
			continue; /* reported when attaching */
		if (!libs.libc[0] && !t->opts.nlibs)
			fprintf(stderr,
				"heaptrail: warning: pid %d maps no libc; its allocator is "
				"not traced unless given with --lib\n",
				t->opts.pids[i]);
		if (add_lib(t, libs.libc, false) || add_lib(t, libs.libstdcxx, false))
			return -1;
	}
	if (!proc_find_libs(0, &libs) && add_lib(t, libs.libc, false))
		return -1;
	find_system_libstdcxx(cxx, sizeof(cxx));
	if (add_lib(t, cxx, false))
		return -1;
	if (!t->nlibs) {
		fprintf(stderr, "heaptrail: no allocator library found to probe; name one with "
				"--lib\n");
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- targets */

static int set_target(struct tracer *t, pid_t pid, uint32_t flags)
{
	if (bpf_map__update_elem(t->skel->maps.targets, &pid, sizeof(pid), &flags, sizeof(flags),
				 BPF_ANY)) {
		fprintf(stderr, "heaptrail: cannot add pid %d to the target map: %s\n", pid,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* The thread-group id of pid: a thread id given to -p means its whole process. */
static pid_t tgid_of(pid_t pid)
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

/* A process that was running before we came: its name, as if it had just set it. */
static void announce_comm(struct tracer *t, pid_t pid)
{
	struct ht_comm rec = { .hdr = { .type = HT_REC_COMM,
					.size = sizeof(rec),
					.ts_ns = now_ns(),
					.pid = (uint32_t)pid,
					.tid = (uint32_t)pid } };
	proc_comm(pid, 0, rec.comm, sizeof(rec.comm));
	t->cb(t->cb_ctx, &rec.hdr);
}

static int attach_pids(struct tracer *t)
{
	for (int i = 0; i < t->opts.npids; i++) {
		pid_t pid = t->opts.pids[i], tgid = tgid_of(pid);
		struct proc *p;

		if (tgid < 0 || !proc_alive(pid)) {
			fprintf(stderr, "heaptrail: cannot attach to pid %d: no such process\n",
				pid);
			return -1;
		}
		if (set_target(t, tgid, t->skel->rodata->hold_for_maps ? HT_TGT_NEED_MAPS : 0))
			return -1;
		announce_comm(t, tgid);
		p = proc_add(t, tgid);
		if (!p || attach_proc_uprobes(t, p))
			return -1;
		if (!proc_alive(tgid)) {
			fprintf(stderr,
				"heaptrail: cannot attach to pid %d: it exited while "
				"attaching\n",
				pid);
			return -1;
		}
	}
	return 0;
}

/*
 * -c: fork a child that waits on a pipe before it execs, so that its pid is known (and in the
 * target map, marked pending-exec) and its uprobes are in place before the command's first
 * instruction. A second, close-on-exec pipe brings back execvp's errno if it fails.
 */
static int start_command(struct tracer *t)
{
	int go[2], err[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
		fprintf(stderr, "heaptrail: pipe: %s\n", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "heaptrail: cannot start '%s': fork: %s\n", t->opts.argv[0],
			strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char c;
		int e;

		close(go[1]);
		close(err[0]);
		/* EOF without the byte: heaptrail gave up attaching. */
		if (read(go[0], &c, 1) != 1)
			_exit(127);
		execvp(t->opts.argv[0], t->opts.argv);
		e = errno;
		if (write(err[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(err[1]);
	t->child = pid;
	t->child_go_fd = go[1];
	t->child_err_fd = err[0];
	if (set_target(t, pid, HT_TGT_PENDING_EXEC))
		return -1;
	if (!proc_add(t, pid))
		return -1;
	return attach_proc_uprobes(t, proc_find(t, pid));
}

/* Let the child exec and learn whether it could. */
static int release_command(struct tracer *t)
{
	int e = 0;
	ssize_t n;

	if (write(t->child_go_fd, "g", 1) != 1) {
		fprintf(stderr, "heaptrail: cannot start '%s': %s\n", t->opts.argv[0],
			strerror(errno));
		return -1;
	}
	close(t->child_go_fd);
	t->child_go_fd = -1;
	do
		n = read(t->child_err_fd, &e, sizeof(e));
	while (n < 0 && errno == EINTR);
	close(t->child_err_fd);
	t->child_err_fd = -1;
	if (n == sizeof(e)) {
		fprintf(stderr, "heaptrail: cannot start '%s': %s\n", t->opts.argv[0], strerror(e));
		waitpid(t->child, &t->child_status, 0);
		t->child_reaped = true;
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- the ring buffer */

/* Records that change what is traced are acted upon before the consumer sees them. */
static void follow(struct tracer *t, const struct ht_hdr *rec)
{
	struct proc *p;

	switch (rec->type) {
	case HT_REC_FORK:
		if (t->opts.all)
			return;
		p = proc_add(t, ((const struct ht_fork *)rec)->child_pid);
		if (!p)
			break;
		p->hold_pending = true;
		if (attach_proc_uprobes(t, p) && proc_alive(p->pid))
			t->error = -1;
		break;
	case HT_REC_HELD:
		/*
		 * A forked child's probes were attached on its fork record, which the ring buffer
		 * gave us first; make sure. It is continued once the consumer has seen this.
		 */
		p = proc_find(t, rec->pid);
		if (p && !p->nlinks && attach_proc_uprobes(t, p))
			t->error = -1;
		if (p)
			p->hold_pending = false;
		break;
	case HT_REC_EXIT:
		p = proc_find(t, rec->pid);
		if (p)
			proc_gone(t, p);
		break;
	}
}

/* A batch of faults becomes the fault records it stands for, in their order. */
static void expand_faults(struct tracer *t, const struct ht_faults *b)
{
	for (uint32_t i = 0; i < b->n && i < HT_FAULT_BATCH; i++) {
		struct ht_fault f = {
			.hdr = { .type = HT_REC_FAULT,
				 .size = sizeof(f),
				 .ts_ns = b->hdr.ts_ns + b->e[i].dt_ns,
				 .pid = b->hdr.pid,
				 .tid = b->hdr.tid },
			.address = b->e[i].address,
			.ip = b->e[i].ip,
			.error_code = b->e[i].error_code,
		};

		t->cb(t->cb_ctx, &f.hdr);
	}
}

static int by_batch_ts(const void *a, const void *b)
{
	const struct ht_faults *x = *(const struct ht_faults *const *)a;
	const struct ht_faults *y = *(const struct ht_faults *const *)b;

	return x->hdr.ts_ns < y->hdr.ts_ns ? -1 : x->hdr.ts_ns > y->hdr.ts_ns;
}

/* At the end: the batches still waiting on each CPU, oldest first. */
static void drain_fault_batches(struct tracer *t)
{
	int ncpu = libbpf_num_possible_cpus(), n = 0;
	struct ht_faults *vals, **order;

	if (!t->opts.want_fault || !t->opts.fault_batching || ncpu <= 0)
		return;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	order = calloc((size_t)ncpu, sizeof(*order));
	if (vals && order &&
	    !bpf_map_lookup_elem(bpf_map__fd(t->skel->maps.fault_batch), &(uint32_t){ 0 }, vals)) {
		for (int c = 0; c < ncpu; c++)
			if (vals[c].n)
				order[n++] = &vals[c];
		qsort(order, (size_t)n, sizeof(*order), by_batch_ts);
		for (int i = 0; i < n; i++)
			expand_faults(t, order[i]);
	}
	free(order);
	free(vals);
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct tracer *t = ctx;
	const char *why;

	if (ht_rec_check(data, size, &why) < 0) {
		fprintf(stderr, "heaptrail: dropping a malformed record from the kernel: %s\n",
			why);
		return 0;
	}
	if (((struct ht_hdr *)data)->type == HT_REC_FAULTS) {
		expand_faults(t, data);
		return t->error;
	}
	follow(t, data);
	if (((struct ht_hdr *)data)->type == HT_REC_KMEM &&
	    ((struct ht_kmem *)data)->op == HT_KOP_FREE)
		t->kmem_frees++;
	t->cb(t->cb_ctx, data);
	/* After the consumer, which may read the stopped process's mappings. */
	if (((struct ht_hdr *)data)->type == HT_REC_HELD)
		kill((pid_t)((struct ht_hdr *)data)->pid, SIGCONT);
	return t->error;
}

/*
 * New losses become lost records in the stream, so that no consumer can miss them. The
 * kernel's recursion counts cost one syscall per program: read every 200 ms (the loop polls
 * every 10), and at the end (final).
 */
static void report_new_losses(struct tracer *t, bool final)
{
	uint64_t lost[HT_LOST_MAX], now = now_ns();

	if (t->kmem && (final || now >= t->kmem_nested_next_ns)) {
		t->kmem_nested = kmem_nested_misses(t->kmem);
		t->kmem_nested_next_ns = now + 200 * 1000000ull;
	}
	tracer_lost(t, lost);
	for (int k = 0; k < HT_LOST_MAX; k++) {
		uint64_t v = lost[k];
		struct ht_lost rec = {};

		if (v == t->lost_seen[k])
			continue;
		rec.hdr.type = HT_REC_LOST;
		rec.hdr.size = sizeof(rec);
		rec.hdr.ts_ns = now_ns();
		rec.kind = k;
		rec.count = v - t->lost_seen[k];
		t->lost_seen[k] = v;
		t->cb(t->cb_ctx, &rec.hdr);
	}
}

/* Targets can vanish without an exit record (lost, or killed while we attached). */
static void check_targets(struct tracer *t)
{
	if (t->child && !t->child_reaped &&
	    waitpid(t->child, &t->child_status, WNOHANG) == t->child)
		t->child_reaped = true;
	for (int i = 0; i < t->nprocs; i++) {
		struct proc *p = &t->procs[i];

		if (p->alive && !proc_alive(p->pid))
			proc_gone(t, p);
	}
}

int tracer_start(struct tracer *t)
{
	return t->child ? release_command(t) : 0;
}

void tracer_set_tick(struct tracer *t, double interval_s, void (*tick)(void *ctx))
{
	t->tick_ns = (uint64_t)(interval_s * 1e9);
	t->tick = tick;
}

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

/* One poll of the ring buffer; -1 after saying why it failed. */
static int poll_ring(struct tracer *t)
{
	int err = ring_buffer__poll(t->rb, POLL_MS);

	if (err < 0 && err != -EINTR) {
		fprintf(stderr, "heaptrail: reading the ring buffer: %s\n", strerror(-err));
		return -1;
	}
	return 0;
}

/* Returns true after a full rcu_barrier(), false after only a grace period. */
static bool kernel_rcu_barrier(const struct tracer *t)
{
	int fd = open(RCU_BARRIER_PARAM, O_WRONLY | O_CLOEXEC);

	if (fd >= 0 && write(fd, "1", 1) == 1) {
		close(fd);
		if (t->opts.verbose)
			fprintf(stderr, "heaptrail: waited for RCU callbacks (rcu_barrier)\n");
		return true;
	}
	if (fd >= 0)
		close(fd);
	syscall(SYS_membarrier, 1 /* MEMBARRIER_CMD_GLOBAL */, 0, 0);
	if (t->opts.verbose)
		fprintf(stderr, "heaptrail: no %s: waited for one RCU grace period\n",
			RCU_BARRIER_PARAM);
	return false;
}

/*
 * With -k, before the last read. After a stop (signal, -d) the barrier, or a grace period and
 * KMEM_LINGER_NS, since a live target or the whole system never goes quiet; after the last
 * target exits, the barrier and the linger until quiet.
 */
static int kmem_settle(struct tracer *t, bool linger, volatile sig_atomic_t *stop)
{
	bool full = kernel_rcu_barrier(t);
	uint64_t start = now_ns(), last_free = start, seen_frees = t->kmem_frees;

	if (!linger && full)
		return 0;
	while (!t->error && (!linger || !*stop)) {
		uint64_t now;

		if (poll_ring(t))
			return -1;
		now = now_ns();
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

int tracer_run(struct tracer *t, double duration_s, volatile sig_atomic_t *stop)
{
	uint64_t deadline = duration_s > 0 ? now_ns() + (uint64_t)(duration_s * 1e9) : 0;
	uint64_t next_check = 0, next_tick = t->tick ? now_ns() + t->tick_ns : 0;
	bool targets_gone = false;

	while (!*stop && !t->error) {
		uint64_t now;

		if (poll_ring(t))
			return -1;
		report_new_losses(t, false);
		now = now_ns();
		if (deadline && now >= deadline)
			break;
		if (t->tick && now >= next_tick) {
			t->tick(t->cb_ctx);
			next_tick = now + t->tick_ns;
		}
		if (!t->opts.all && now >= next_check) {
			/* An exit record may still be in the buffer: drain before deciding. */
			ring_buffer__consume(t->rb);
			check_targets(t);
			if (t->nalive == 0) {
				targets_gone = true;
				break;
			}
			next_check = now + 200 * 1000000ull;
		}
	}
	if (t->opts.want_kmem && !t->error && kmem_settle(t, targets_gone, stop))
		return -1;
	ring_buffer__consume(t->rb);
	drain_fault_batches(t);
	report_new_losses(t, true);
	return t->error ? -1 : 0;
}

/* ---------------------------------------------------------------- open / close */

/*
 * uprobe_multi links came with Linux 6.6 (commit 89ae89f53d20). Probe as libbpf does: a
 * kernel that has them answers EBADF for a path that is a directory; others EINVAL or so.
 */
static bool probe_uprobe_multi(void)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_TRACE_UPROBE_MULTI);
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	unsigned long offset = 0;
	int prog, link, err;

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", insns, 2, &po);
	if (prog < 0)
		return false;
	lo.uprobe_multi.path = "/";
	lo.uprobe_multi.offsets = &offset;
	lo.uprobe_multi.cnt = 1;
	link = bpf_link_create(prog, -1, BPF_TRACE_UPROBE_MULTI, &lo);
	err = errno;
	if (link >= 0)
		close(link);
	close(prog);
	return link < 0 && err == EBADF;
}

int tracer_open(const struct tracer_opts *opts, tracer_event_fn cb, void *ctx, struct tracer **out)
{
	struct tracer *t;
	int err;

	*out = NULL;
	if (check_environment(opts))
		return -1;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -1;
	t->opts = *opts;
	t->cb = cb;
	t->cb_ctx = ctx;
	t->child_go_fd = t->child_err_fd = -1;
	t->child_status = -1;
	*out = t;
	libbpf_set_print(opts->verbose ? libbpf_verbose : libbpf_quiet);

	for (int i = 0; i < opts->npids; i++) {
		if (tgid_of(opts->pids[i]) < 0 || !proc_alive(opts->pids[i])) {
			fprintf(stderr, "heaptrail: cannot attach to pid %d: no such process\n",
				opts->pids[i]);
			return -1;
		}
	}
	if (opts->want_alloc && collect_libs(t))
		return -1;

	t->skel = heaptrail_bpf__open();
	if (!t->skel) {
		fprintf(stderr, "heaptrail: cannot open the BPF object: %s\n", strerror(errno));
		return -1;
	}
	t->skel->rodata->filter_targets = !opts->all;
	t->skel->rodata->capture_stacks = opts->capture_stacks;
	t->skel->rodata->capture_free_stacks = opts->capture_free_stacks;
	t->skel->rodata->floor_only = opts->floor_only;
	t->skel->rodata->hold_at_exec = opts->hold_at_exec;
	t->skel->rodata->free_returns = opts->want_vm;
	/* Symbols need each process's mappings read while it lives: stop targets once for it. */
	t->skel->rodata->hold_for_maps = opts->capture_stacks && !opts->all;
	if (opts->stack_depth)
		t->skel->rodata->stack_depth = opts->stack_depth;
	if (opts->stack_table_size &&
	    bpf_map__set_max_entries(t->skel->maps.stacks_sent, opts->stack_table_size)) {
		fprintf(stderr, "heaptrail: --stack-table-size %u: %s\n", opts->stack_table_size,
			strerror(errno));
		return -1;
	}
	t->skel->rodata->self_pid = (uint32_t)getpid();
	if (bpf_map__set_max_entries(t->skel->maps.events, (uint32_t)opts->ringbuf_size)) {
		fprintf(stderr, "heaptrail: --ringbuf-size %lu: %s\n", opts->ringbuf_size,
			strerror(errno));
		return -1;
	}
	bpf_program__set_autoload(t->skel->progs.page_fault_user, opts->want_fault);
	t->skel->rodata->fault_batching = opts->want_fault && opts->fault_batching;
	t->skel->rodata->sys_hist_only = opts->want_vm && opts->sys_hists;
	bpf_program__set_autoload(t->skel->progs.fault_switch,
				  opts->want_fault && opts->fault_batching);
	bpf_program__set_autoload(t->skel->progs.rss_stat, opts->want_rss);
	bpf_program__set_autoload(t->skel->progs.sys_enter, opts->want_vm);
	bpf_program__set_autoload(t->skel->progs.sys_exit, opts->want_vm || !opts->all);
	t->uprobe_multi = opts->want_alloc && probe_uprobe_multi();
	if (opts->verbose && opts->want_alloc)
		fprintf(stderr, "heaptrail: allocator probes: %s\n",
			t->uprobe_multi ? "uprobe_multi links, one per library"
					: "one uprobe per function (no uprobe_multi: Linux < 6.6)");
	bpf_program__set_autoload(t->skel->progs.alloc_enter, opts->want_alloc && !t->uprobe_multi);
	bpf_program__set_autoload(t->skel->progs.alloc_return,
				  opts->want_alloc && !t->uprobe_multi);
	bpf_program__set_autoload(t->skel->progs.alloc_enter_multi, t->uprobe_multi);
	t->hooks = hooks_prepare(t->skel, opts->want_vm, opts->verbose);
	t->kmem = kmem_prepare(t->skel, opts->want_kmem, opts->kmem_stacks, opts->kmem_table_size,
			       opts->verbose);
	if (opts->want_kmem && !t->kmem)
		return -1;
	bpf_program__set_autoload(t->skel->progs.alloc_return_multi, t->uprobe_multi);

	err = heaptrail_bpf__load(t->skel);
	if (err) {
		fprintf(stderr, "heaptrail: cannot load the BPF programs: %s%s\n", strerror(-err),
			err == -EPERM ? " (not enough privilege, or locked down?)" : "");
		return -1;
	}
	if (fill_sys_table(t))
		return -1;
	t->rb = ring_buffer__new(bpf_map__fd(t->skel->maps.events), on_record, t, NULL);
	if (!t->rb) {
		fprintf(stderr, "heaptrail: cannot set up the ring buffer: %s\n", strerror(errno));
		return -1;
	}
	t->start_ns = now_ns();
	if (attach_kernel(t))
		return -1;
	if (opts->all) {
		struct bpf_link **links = NULL;
		int n = 0;

		if (opts->want_alloc && attach_uprobes(t, -1, &links, &n))
			return -1;
		for (int i = 0; i < n; i++)
			links_push(&t->links, &t->nlinks, &t->links_cap, links[i]);
		free(links);
		return 0;
	}
	if (attach_pids(t))
		return -1;
	if (opts->argv && start_command(t))
		return -1;
	return 0;
}

int tracer_sys_hists(struct tracer *t,
		     void (*fn)(void *ctx, const struct ht_sys_hist_key *k,
				const struct ht_sys_hist *h),
		     void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.sys_hists), ncpu = libbpf_num_possible_cpus();
	struct ht_sys_hist_key key, next, *prev = NULL;
	struct ht_sys_hist *vals, sum;

	if (ncpu <= 0)
		return -1;
	vals = calloc((size_t)ncpu, sizeof(*vals));
	if (!vals)
		return -1;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, vals))
			continue;
		memset(&sum, 0, sizeof(sum));
		sum.min = UINT64_MAX;
		for (int c = 0; c < ncpu; c++) {
			if (!vals[c].total)
				continue;
			for (int b = 0; b < HT_HIST_BUCKETS; b++)
				sum.counts[b] += vals[c].counts[b];
			sum.total += vals[c].total;
			sum.sum += vals[c].sum;
			if (vals[c].min < sum.min)
				sum.min = vals[c].min;
			if (vals[c].max > sum.max)
				sum.max = vals[c].max;
		}
		if (sum.total)
			fn(ctx, &key, &sum);
	}
	free(vals);
	return 0;
}

void tracer_lost(struct tracer *t, uint64_t lost[HT_LOST_MAX])
{
	for (int k = 0; k < HT_LOST_MAX; k++)
		lost[k] = t->skel ? __atomic_load_n(&t->skel->bss->lost[k], __ATOMIC_RELAXED) : 0;
	/* Counted by the kernel itself, per program, rather than by our programs. */
	lost[HT_LOST_KMEM_NESTED] = t->kmem_nested;
}

uint64_t tracer_floor_hits(struct tracer *t)
{
	return t->skel ? __atomic_load_n(&t->skel->bss->floor_hits, __ATOMIC_RELAXED) : 0;
}

int tracer_child_status(struct tracer *t)
{
	return t->child_reaped ? t->child_status : -1;
}

uint64_t tracer_start_ns(struct tracer *t)
{
	return t->start_ns;
}

void tracer_close(struct tracer *t)
{
	if (!t)
		return;
	/*
	 * Nothing of ours may stay stopped once we are gone: first no new holds (the kernel links
	 * go), then every forked child whose hold we did not see end is continued.
	 */
	for (int i = 0; i < t->nlinks; i++)
		bpf_link__destroy(t->links[i]);
	t->nlinks = 0;
	/* Holds made before the links went: their records continue the processes. */
	if (t->rb)
		ring_buffer__consume(t->rb);
	for (int i = 0; i < t->nprocs; i++)
		if (t->procs[i].hold_pending)
			kill(t->procs[i].pid, SIGCONT);
	for (int i = 0; i < t->nprocs; i++)
		proc_detach(&t->procs[i]);
	free(t->procs);
	if (t->child_go_fd >= 0)
		close(t->child_go_fd); /* the child sees EOF and exits 127 */
	if (t->child_err_fd >= 0)
		close(t->child_err_fd);
	if (t->child && !t->child_reaped &&
	    waitpid(t->child, &t->child_status, WNOHANG) == t->child)
		t->child_reaped = true;
	free(t->links);
	ring_buffer__free(t->rb);
	heaptrail_bpf__destroy(t->skel);
	for (int i = 0; i < t->nlibs; i++)
		libprobes_free(t->libs[i]);
	hooks_free(t->hooks);
	kmem_free(t->kmem);
	free(t);
}
