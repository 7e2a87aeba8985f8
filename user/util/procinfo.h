/* SPDX-License-Identifier: GPL-2.0-only */
/* Small /proc readers: does a process exist, its comm, the allocator libraries it maps. */
#ifndef HT_PROCINFO_H
#define HT_PROCINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A live (not zombie) process. */
bool proc_alive(pid_t pid);

/* What a pid is, for a target given with -p. */
enum proc_kind {
	PROC_NONE,    /* no such process */
	PROC_ZOMBIE,  /* exited, not reaped yet */
	PROC_KTHREAD, /* a kernel thread: no user memory */
	PROC_USER,
};
enum proc_kind proc_kind_of(pid_t pid);
/* comm of pid (tid 0) or of one of its threads; "" when it is gone. */
void proc_comm(pid_t pid, pid_t tid, char *buf, size_t len);
/*
 * Its cgroup path ("" when gone): the memory controller's under cgroup v1, else the unified
 * hierarchy's (v2). What tells containers and systemd units apart.
 */
void proc_cgroup(pid_t pid, char *buf, size_t len);
/* Its pid in the innermost pid namespace it lives in (a container's); 0: the host's, or gone. */
uint32_t proc_ns_pid(pid_t pid);

/* Which allocator libraries a process maps, as paths heaptrail can open. */
struct proc_libs {
	char libc[4096];
	char libstdcxx[4096];
};
/* pid 0: heaptrail itself. Returns 0 or -errno (-ESRCH: no such process). */
int proc_find_libs(pid_t pid, struct proc_libs *libs);
/* The text of /proc/PID/maps (malloc'ed, *len bytes), NULL when the process is gone. */
char *proc_maps_text(pid_t pid, size_t *len);
/*
 * heaptrail's own memory: RSS and peak RSS from /proc/self/status, and the bytes its allocator
 * has handed out (jemalloc's stats.allocated; 0 in a build without jemalloc).
 */
struct self_memory {
	uint64_t rss_kib, peak_kib;
	uint64_t anon_kib, file_kib; /* of the RSS: anonymous memory, and files mapped */
	uint64_t bpf_kib;	     /* of the RSS: BPF maps mapped (the ring buffer, twice) */
	uint64_t heap_bytes;
};
void proc_self_memory(struct self_memory *m);

/* The system's libstdc++, for a command that will map it only after exec; "" if none. */
void find_system_libstdcxx(char *buf, size_t len);

#endif
