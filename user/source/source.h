/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Where a report's records come from: the live tracer, or a recording (-i FILE). Either way the
 * command's callback sees the same records in the same order, maps snapshots included: live,
 * the source reads /proc/PID/maps at the moments a recording holds one and hands it on as MAPS
 * records, so that nothing after the source reads /proc for the address space.
 */
#ifndef HT_SOURCE_H
#define HT_SOURCE_H

#include <signal.h>
#include <stdbool.h>
#include "model/model.h"
#include "source/live/tracer.h"

struct source;

struct source_opts {
	const char *input; /* a recording, or NULL: live */
	double duration;   /* live: seconds at most (0: until the targets are gone) */
	/*
	 * Live: MAPS records with /proc/PID/maps after an exec, a hold (a forked child, an exec
	 * held for it), the first sight of a process (attach, or its first syscall under -a),
	 * and before each successful file mmap and shmat, whose path or size they name.
	 */
	bool maps_snapshots;
	const struct tracer_opts *live; /* what to trace, when live */
};

/*
 * Live: loads, attaches and starts the target, saying so on stderr with banner. From a file:
 * only remembers it. On failure prints why and returns -1.
 */
int source_open(const struct source_opts *o, tracer_event_fn cb, void *ctx, const char *banner,
		struct source **out);
/* Calls tick every interval seconds while live (interval 0: never). */
void source_set_tick(struct source *s, double interval, void (*tick)(void *ctx));
/*
 * Calls idle after every poll while live (POLL_MS apart at most), in the thread that runs the
 * source; source_flush() there brings every record until now first.
 */
void source_set_idle(struct source *s, void (*idle)(void *ctx));
void source_flush(struct source *s);
/* Live: the stacks the model drops are sent again when used again (tracer_unsend_stacks). */
void source_unsend_stacks(struct source *s, const uint64_t *ids, size_t n);
/*
 * Live: the stacks nothing in m refers to any more (model_stacks_unused: its hooks' marks
 * included) are dropped. BPF forgets it sent them first, then the records in flight are taken,
 * and only those still unused go (one used meanwhile is kept, and sent again at worst). From a
 * file nothing is dropped: a stack record comes once there. Returns how many went.
 */
size_t source_drop_unused_stacks(struct source *s, struct model *m);
/* Whether SIGINT or SIGTERM (or source_request_stop) ended the run. */
bool source_stop_requested(void);
/* Runs to the end: the target's exit, -d, SIGINT/SIGTERM, or the end of the file. 0 or -1. */
int source_run(struct source *s);
/* Ends source_run() as a signal would (a consumer that cannot go on: disk full). */
void source_request_stop(void);
/* Time of the first record (text timestamps are relative to it). */
uint64_t source_start_ns(const struct source *s);
/* Now, on the clock records are stamped with (CLOCK_MONOTONIC), in ns. */
uint64_t source_now_ns(void);
/* --floor: the allocator probes' hits the count-only programs saw (0 from a file). */
uint64_t source_floor_hits(struct source *s);
void source_close(struct source *s);

#endif
