/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The live source: loads the BPF programs, attaches them to the targets, follows forks, and
 * hands every record to a callback until the targets are gone, the duration is over, or the
 * caller asks to stop.
 */
#ifndef HT_TRACER_H
#define HT_TRACER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "heaptrail.h"
#include "source/live/unwind.h"

struct tracer_opts {
	bool all;	   /* -a */
	const pid_t *pids; /* -p */
	int npids;
	char *const *argv;	 /* -c, already split into words */
	const char *const *libs; /* --lib */
	int nlibs;
	unsigned long ringbuf_size;
	bool want_alloc; /* attach the allocator uprobes */
	bool want_vm;	 /* memory syscalls */
	bool want_fault;
	bool fault_batching; /* faults batched in BPF (not a live per-fault stream) */
	bool sys_hists; /* memory syscalls kept as histograms in BPF: SYS_HIST records at the end */
	bool want_rss;
	bool capture_stacks;	  /* user stacks of allocations */
	bool want_kmem;		  /* kernel allocators (-k) */
	bool kmem_stacks;	  /* kernel stacks of kernel allocations */
	unsigned kmem_table_size; /* live kernel allocations the BPF side can follow */
	bool capture_free_stacks; /* and of frees */
	bool probe_at_entry; /* no probe placement: every entry probe at the function's entry */
	bool floor_only;     /* benchmarks: the allocator probes only count their hits */
	bool hold_at_exec;   /* stop targets at exec until the consumer saw the HELD record */
	unsigned stack_depth;
	unsigned stack_table_size;
	enum unwind_mode unwind; /* how user stacks are walked */
	unsigned unwind_table_rows;
	uint64_t sample_bytes;	    /* --sample-bytes: 0, or the mean bytes between samples */
	unsigned sample_table_size; /* live allocations BPF follows in sampled mode; 0: default */
	bool sample_totals_often;   /* and its totals read every SAMPLE_TOTALS_MS (timeline) */
	bool verbose;
	bool watch_stdout; /* a closed pipe on stdout ends the run: nobody reads the output */
};

struct tracer;

/* Called for every record, in ring-buffer order; internal records included. */
typedef void (*tracer_event_fn)(void *ctx, const struct ht_hdr *rec);

/*
 * Loads and attaches everything, starts the -c command stopped before its exec. On failure
 * prints one line saying why and returns -1.
 */
int tracer_open(const struct tracer_opts *opts, tracer_event_fn cb, void *ctx, struct tracer **out);
/* Lets the -c command exec; -1 (said why) when it could not. */
int tracer_start(struct tracer *t);
/* Polls until the targets are gone, the duration is over or *stop. 0, or -1 on an error. */
int tracer_run(struct tracer *t, double duration_s, volatile sig_atomic_t *stop);
/* Calls tick(ctx) every interval_s seconds while tracer_run polls. */
void tracer_set_tick(struct tracer *t, double interval_s, void (*tick)(void *ctx));
/*
 * Calls idle(ctx) after every poll of the ring buffer, POLL_MS apart at most while nothing
 * comes: where serve answers its HTTP clients, in the one thread that owns the model.
 */
void tracer_set_idle(struct tracer *t, void (*idle)(void *ctx));
/*
 * Now, from a callback of tracer_run (idle, tick): the records waiting in the ring buffer, and
 * in sampled mode each process's exact totals, so that what follows sees all until now.
 */
void tracer_flush(struct tracer *t);
/* BPF forgets it sent these stacks: the next allocation made from one sends it again. */
void tracer_unsend_stacks(struct tracer *t, const uint64_t *ids, size_t n);
/* Allocator probe hits counted in floor_only mode. */
uint64_t tracer_floor_hits(struct tracer *t);
/* Loss counters so far, by enum ht_lost_kind. */
void tracer_lost(struct tracer *t, uint64_t lost[HT_LOST_MAX]);
/* The -c command's wait status, when it was reaped; -1 otherwise. */
int tracer_child_status(struct tracer *t);
/* Monotonic time at which tracing began (text timestamps are relative to it). */
uint64_t tracer_start_ns(struct tracer *t);
void tracer_close(struct tracer *t);

#endif
