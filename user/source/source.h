/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Where a report's records come from: the live tracer, or a recording (-i FILE). Either way the
 * command's callback sees the same records in the same order.
 */
#ifndef HT_SOURCE_H
#define HT_SOURCE_H

#include <signal.h>
#include "source/live/tracer.h"

struct source;

/*
 * input NULL: live, with o; loads, attaches and starts the target, saying so on stderr with
 * banner, and runs for at most duration seconds (0: until the targets are gone). Otherwise
 * the recording at input, only remembered here. On failure prints why and returns -1.
 */
int source_open(const char *input, double duration, const struct tracer_opts *o, tracer_event_fn cb,
		void *ctx, const char *banner, struct source **out);
/* Calls tick every interval seconds while live (interval 0: never). */
void source_set_tick(struct source *s, double interval, void (*tick)(void *ctx));
/* Runs to the end: the target's exit, -d, SIGINT/SIGTERM, or the end of the file. 0 or -1. */
int source_run(struct source *s);
/* Ends source_run() as a signal would (a consumer that cannot go on: disk full). */
void source_request_stop(void);
/* Time of the first record (text timestamps are relative to it). */
uint64_t source_start_ns(const struct source *s);
/* The live tracer, NULL when reading a file. */
struct tracer *source_tracer(struct source *s);
void source_close(struct source *s);

#endif
