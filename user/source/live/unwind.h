/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * --unwind: which processes the BPF side walks with unwind tables, and the tables themselves
 * (each module's rows once, each process's executable mappings), kept in the BPF maps.
 */
#ifndef HT_UNWIND_H
#define HT_UNWIND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

enum unwind_mode {
	UNWIND_AUTO, /* tables for a process with a module built without frame pointers */
	UNWIND_FP,   /* frame pointers only: no tables */
	UNWIND_DWARF /* tables for every process */
};

struct heaptrail_bpf;
struct unwind;

/* Before load: sizes the maps and sets the BPF switch. NULL for UNWIND_FP (nothing to do). */
struct unwind *unwind_prepare(struct heaptrail_bpf *skel, enum unwind_mode mode,
			      unsigned table_rows, bool verbose);
/* After load: maps the row table. 0, or -1 after saying why. */
int unwind_loaded(struct unwind *u, struct heaptrail_bpf *skel);
/*
 * Reads pid's executable mappings, compiles the modules not seen yet, and decides how pid is
 * walked (tables, or frame pointers in auto mode when every module has them). Best left for a
 * stopped process; a refresh after its mappings changed is the same call.
 */
void unwind_process(struct unwind *u, pid_t pid);
/* pid's tables, unless it has them (its parent's, copied at its fork). */
void unwind_ensure(struct unwind *u, pid_t pid);
/*
 * A fork: the child maps what its parent mapped, and BPF gave it the parent's tables at the
 * fork (bpf/process.bpf.c), before its first allocation; this only notes that it has them,
 * so that its mappings are not read again.
 */
void unwind_fork(struct unwind *u, pid_t parent, pid_t child);
/* A user stack record arrived: a process not decided yet, or one whose walk was cut. */
void unwind_on_stack(struct unwind *u, pid_t pid, uint32_t flags, uint64_t now_ns);
/* pid exec'ed or exited: its mappings are gone (and its tables, deleted by BPF). */
void unwind_forget(struct unwind *u, pid_t pid);
/* -v: the rows the modules take, and the kernel memory of the table. */
void unwind_print_usage(const struct unwind *u);
void unwind_free(struct unwind *u);

#endif
