// SPDX-License-Identifier: GPL-2.0-only
/* The live tracer or a recording, behind one interface for the report commands. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include "source/file/recfile.h"
#include "source/source.h"

struct source {
	const char *input; /* a recording, or NULL: live */
	double duration;
	struct tracer *tracer; /* live */
	tracer_event_fn cb;
	void *ctx;
	uint64_t first_ns;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

void source_request_stop(void)
{
	stop_requested = 1;
}

/* From a file: remembers when the recording starts, then hands the record on. */
static void file_record(void *arg, const struct ht_hdr *rec)
{
	struct source *s = arg;

	if (!s->first_ns)
		s->first_ns = rec->ts_ns;
	s->cb(s->ctx, rec);
}

int source_open(const char *input, double duration, const struct tracer_opts *o, tracer_event_fn cb,
		void *ctx, const char *banner, struct source **out)
{
	struct source *s = calloc(1, sizeof(*s));
	/* No SA_RESTART: the tracer's poll must return to see the request. */
	struct sigaction sa = { .sa_handler = on_signal };

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed output is an error to report, not a death */
	*out = s;
	if (!s)
		return -1;
	s->input = input;
	s->duration = duration;
	s->cb = cb;
	s->ctx = ctx;
	if (input)
		return 0;
	if (tracer_open(o, cb, ctx, &s->tracer) || tracer_start(s->tracer))
		return -1;
	s->first_ns = tracer_start_ns(s->tracer);
	fprintf(stderr, "heaptrail: %s\n", banner);
	return 0;
}

void source_set_tick(struct source *s, double interval, void (*tick)(void *ctx))
{
	if (s->tracer && interval > 0)
		tracer_set_tick(s->tracer, interval, tick);
}

int source_run(struct source *s)
{
	char err[512];

	if (s->tracer)
		return tracer_run(s->tracer, s->duration, &stop_requested);
	if (recfile_read(s->input, file_record, s, NULL, err, sizeof(err))) {
		fprintf(stderr, "heaptrail: %s\n", err);
		return -1;
	}
	return 0;
}

uint64_t source_start_ns(const struct source *s)
{
	return s->first_ns;
}

struct tracer *source_tracer(struct source *s)
{
	return s ? s->tracer : NULL;
}

void source_close(struct source *s)
{
	if (!s)
		return;
	tracer_close(s->tracer);
	free(s);
}
