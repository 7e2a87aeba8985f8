// SPDX-License-Identifier: GPL-2.0-only
/* Small /proc readers used while attaching and to name processes in reports. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "util/maps.h"
#include "util/procinfo.h"

enum proc_kind proc_kind_of(pid_t pid)
{
	char path[64], buf[1024], *p, state;
	unsigned long flags = 0;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return PROC_NONE;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* after comm: state ppid pgrp session tty_nr tpgid flags */
	n = p ? sscanf(p + 1, " %c %*d %*d %*d %*d %*d %lu", &state, &flags) : 0;
	if (n < 1)
		return PROC_NONE;
	if (state == 'Z' || state == 'X')
		return PROC_ZOMBIE;
	return n == 2 && (flags & 0x00200000 /* PF_KTHREAD */) ? PROC_KTHREAD : PROC_USER;
}

bool proc_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	bool alive = false;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	/* The state follows the last ')' (comm may contain parentheses). */
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) && p[1] == ' ')
		alive = p[2] != 'Z' && p[2] != 'X';
	fclose(f);
	return alive;
}

void proc_comm(pid_t pid, pid_t tid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	buf[0] = '\0';
	if (tid)
		snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", pid, tid);
	else
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	if (fgets(buf, (int)len, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

void proc_cgroup(pid_t pid, char *buf, size_t len)
{
	char path[64], line[4096];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return;
	/* lines "ID:CONTROLLERS:PATH"; v1's memory controller wins, then v2's "0::" */
	while (fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *at = ctl ? strchr(ctl + 1, ':') : NULL;
		bool memory, unified;

		if (!at)
			continue;
		line[strcspn(line, "\n")] = '\0';
		memory = !strncmp(ctl + 1, "memory:", 7) || strstr(ctl + 1, ",memory:") ||
			 (strstr(ctl + 1, "memory,") && strstr(ctl + 1, "memory,") < at);
		unified = !strncmp(line, "0::", 3);
		if (memory || (unified && !buf[0]))
			snprintf(buf, len, "%s", at + 1);
		if (memory)
			break;
	}
	fclose(f);
}

uint32_t proc_ns_pid(pid_t pid)
{
	char path[64], line[256];
	uint32_t last = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p = line + 6, *end;
		int levels = 0;

		if (strncmp(line, "NSpid:", 6))
			continue;
		/* one number per namespace level, the host's first, the innermost last */
		for (;;) {
			unsigned long v = strtoul(p, &end, 10);

			if (end == p)
				break;
			last = (uint32_t)v;
			levels++;
			p = end;
		}
		if (levels < 2)
			last = 0;
		break;
	}
	fclose(f);
	return last;
}

static bool basename_is(const char *path, const char *prefix)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strncmp(base, prefix, strlen(prefix));
}

/*
 * A path in another mount namespace is opened through /proc/PID/root, so that a process in a
 * container is probed in its own libc.
 */
static void path_in_ns(pid_t pid, const char *path, char *out, size_t len)
{
	struct stat a, b;
	char ns[64];

	snprintf(ns, sizeof(ns), "/proc/%d/ns/mnt", pid);
	if (pid && !stat("/proc/self/ns/mnt", &a) && !stat(ns, &b) && a.st_ino != b.st_ino)
		snprintf(out, len, "/proc/%d/root%s", pid, path);
	else
		snprintf(out, len, "%s", path);
}

struct proc_libs_ctx {
	pid_t pid;
	struct proc_libs *libs;
};

static int proc_libs_line(void *arg, const struct maps_line *l)
{
	struct proc_libs_ctx *c = arg;
	const char *file = maps_path(l);

	if (!file)
		return 0;
	if (!c->libs->libc[0] && (basename_is(file, "libc.so") || basename_is(file, "libc-2.")))
		path_in_ns(c->pid, file, c->libs->libc, sizeof(c->libs->libc));
	else if (!c->libs->libstdcxx[0] && basename_is(file, "libstdc++.so"))
		path_in_ns(c->pid, file, c->libs->libstdcxx, sizeof(c->libs->libstdcxx));
	return 0;
}

int proc_find_libs(pid_t pid, struct proc_libs *libs)
{
	struct proc_libs_ctx c = { pid, libs };
	size_t len;
	char *text;

	libs->libc[0] = libs->libstdcxx[0] = '\0';
	errno = 0;
	text = proc_maps_text(pid ? pid : getpid(), &len);
	if (!text)
		return errno == ENOENT || !errno ? -ESRCH : -errno;
	maps_each(text, len, proc_libs_line, &c);
	free(text);
	return 0;
}

char *proc_maps_text(pid_t pid, size_t *len)
{
	char path[64], buf[4096], *text = NULL;
	FILE *f, *mem;
	size_t n;

	*len = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return NULL;
	mem = open_memstream(&text, len);
	while (mem && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	fclose(f);
	if (!mem)
		return NULL;
	fclose(mem);
	return text;
}

void find_system_libstdcxx(char *buf, size_t len)
{
	static const char *const dirs[] = { "/lib/x86_64-linux-gnu",
					    "/usr/lib/x86_64-linux-gnu",
					    "/usr/lib64",
					    "/lib64",
					    "/usr/lib",
					    "/lib" };
	char path[256];

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/libstdc++.so.6", dirs[i]);
		if (realpath(path, buf) && !access(buf, R_OK))
			return;
	}
	buf[0] = '\0';
}

/* jemalloc's, when heaptrail is linked with it (the unit tests are not). */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
	__attribute__((weak));

void proc_self_memory(struct self_memory *m)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	*m = (struct self_memory){ 0 };
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %" SCNu64, &m->rss_kib);
		sscanf(line, "VmHWM: %" SCNu64, &m->peak_kib);
		sscanf(line, "RssAnon: %" SCNu64, &m->anon_kib);
		sscanf(line, "RssFile: %" SCNu64, &m->file_kib);
	}
	if (f)
		fclose(f);
	/* The ring buffer's pages are mapped twice (a record may wrap): smaps counts both. */
	f = fopen("/proc/self/smaps", "re");
	for (bool bpf = false; f && fgets(line, sizeof(line), f);) {
		uint64_t kib;

		if (strchr(line, '-') && strchr(line, ' ') && strchr(line, '-') < strchr(line, ' '))
			bpf = strstr(line, "anon_inode:bpf-map") != NULL;
		else if (bpf && sscanf(line, "Rss: %" SCNu64, &kib) == 1)
			m->bpf_kib += kib;
	}
	if (f)
		fclose(f);
	if (mallctl) {
		uint64_t epoch = 1;
		size_t allocated = 0, len = sizeof(epoch);

		/* the statistics are a snapshot, refreshed by writing the epoch */
		mallctl("epoch", &epoch, &len, &epoch, len);
		len = sizeof(allocated);
		if (!mallctl("stats.allocated", &allocated, &len, NULL, 0))
			m->heap_bytes = allocated;
	}
}
