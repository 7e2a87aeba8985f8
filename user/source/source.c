// SPDX-License-Identifier: GPL-2.0-only
/*
 * The live tracer or a recording, behind one interface for the report commands; live, the
 * maps snapshots a recording carries are made here.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "record/event.h"
#include "source/file/recfile.h"
#include "source/source.h"
#include "util/pidset.h"
#include "util/procinfo.h"
#include "util/say.h"

struct source {
	const char *input; /* a recording, or NULL: live */
	double duration;
	bool maps_snapshots;
	struct pidset snapped; /* live: processes with a snapshot since their exec */
	struct tracer *tracer; /* live */
	tracer_event_fn cb;
	void (*tick)(void *ctx);
	void (*idle)(void *ctx);
	void *ctx;
	uint64_t first_ns;
};

static volatile sig_atomic_t stop_requested;

/*
 * The first SIGINT or SIGTERM ends the run: the report follows. A second one ends heaptrail
 * at once with what it has written; its guard continues anything it held.
 */
static void on_signal(int sig)
{
	static const char msg[] = "heaptrail: second signal: exiting without the rest of the "
				  "report\n";

	if (stop_requested) {
		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
			/* exiting all the same */
		}
		_exit(128 + sig);
	}
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

static int source_deliver(void *arg, const struct ht_hdr *rec)
{
	struct source *s = arg;

	s->cb(s->ctx, rec);
	return 0;
}

/* Live: /proc/PID/maps now, handed on as MAPS records stamped with ts. */
static void source_snapshot(struct source *s, uint32_t pid, uint64_t ts)
{
	size_t len;
	char *text = proc_maps_text((pid_t)pid, &len);

	if (text && len)
		ht_text_records(HT_REC_MAPS, pid, ts, text, len, source_deliver, s);
	free(text);
	pidset_add(&s->snapped, pid);
}

/* A mapping the address space names from the snapshot: a file's path, a segment's size. */
static bool source_names_mapping(const struct ht_hdr *rec)
{
	const struct ht_syscall *sc = (const void *)rec;
	int err;

	if (rec->type != HT_REC_SYSCALL || ht_syscall_failed(sc, &err))
		return false;
	return sc->sys == HT_SYS_SHMAT ||
	       (sc->sys == HT_SYS_MMAP && !(sc->args[3] & MAP_ANONYMOUS));
}

/* Live: the record, with the snapshots that go before or after it (source_opts). */
static void source_live_record(void *arg, const struct ht_hdr *rec)
{
	struct source *s = arg;

	if (!s->maps_snapshots) {
		s->cb(s->ctx, rec);
		return;
	}
	if (rec->type == HT_REC_SYSCALL &&
	    (!pidset_has(&s->snapped, rec->pid) || source_names_mapping(rec)))
		source_snapshot(s, rec->pid, rec->ts_ns);
	if (rec->type == HT_REC_EXEC)
		pidset_remove(&s->snapped, rec->pid);
	s->cb(s->ctx, rec);
	switch (rec->type) {
	case HT_REC_EXEC:
	case HT_REC_HELD: /* stopped for this: its mappings are there to read */
		/*
		 * Not a child stopped at its fork: it has its parent's (symbolize_inherit), as
		 * a child forked once the probes are shared, never stopped, does. Reading them
		 * took 1.5 ms a child in the 5.10 guest, for hundreds of children at once.
		 */
		if (rec->type == HT_REC_HELD && (rec->flags & HT_F_HELD_FORK))
			break;
		source_snapshot(s, rec->pid, rec->ts_ns);
		break;
	case HT_REC_COMM: /* a process seen for the first time (attach) */
		if (!pidset_has(&s->snapped, rec->pid))
			source_snapshot(s, rec->pid, rec->ts_ns);
		break;
	case HT_REC_EXIT:
		pidset_remove(&s->snapped, rec->pid);
		break;
	}
}

int source_open(const struct source_opts *o, tracer_event_fn cb, void *ctx, const char *banner,
		struct source **out)
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
	s->input = o->input;
	s->duration = o->duration;
	s->maps_snapshots = o->maps_snapshots;
	s->cb = cb;
	s->ctx = ctx;
	if (o->input)
		return 0;
	if (tracer_open(o->live, source_live_record, s, &s->tracer) || tracer_start(s->tracer))
		return -1;
	s->first_ns = tracer_start_ns(s->tracer);
	say("%s", banner);
	return 0;
}

/* The tracer calls ticks with its consumer's context, which is this source. */
static void source_tick(void *arg)
{
	struct source *s = arg;

	s->tick(s->ctx);
}

void source_set_tick(struct source *s, double interval, void (*tick)(void *ctx))
{
	s->tick = tick;
	if (s->tracer && interval > 0)
		tracer_set_tick(s->tracer, interval, source_tick);
}

static void source_idle(void *arg)
{
	struct source *s = arg;

	s->idle(s->ctx);
}

void source_set_idle(struct source *s, void (*idle)(void *ctx))
{
	s->idle = idle;
	if (s->tracer)
		tracer_set_idle(s->tracer, source_idle);
}

void source_flush(struct source *s)
{
	if (s->tracer)
		tracer_flush(s->tracer);
}

void source_unsend_stacks(struct source *s, const uint64_t *ids, size_t n)
{
	if (s->tracer)
		tracer_unsend_stacks(s->tracer, ids, n);
}

size_t source_drop_unused_stacks(struct source *s, struct model *m)
{
	uint64_t *ids;
	size_t n, dropped = 0;

	if (!s->tracer)
		return 0;
	n = model_stacks_unused(m, &ids);
	if (n) {
		source_unsend_stacks(s, ids, n);
		source_flush(s);
		dropped = model_stacks_drop(m);
	}
	free(ids);
	return dropped;
}

bool source_stop_requested(void)
{
	return stop_requested;
}

int source_run(struct source *s)
{
	if (s->tracer)
		return tracer_run(s->tracer, s->duration, &stop_requested);
	return recfile_read(s->input, file_record, s, NULL);
}

uint64_t source_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t source_start_ns(const struct source *s)
{
	return s->first_ns;
}

uint64_t source_floor_hits(struct source *s)
{
	return s && s->tracer ? tracer_floor_hits(s->tracer) : 0;
}

void source_close(struct source *s)
{
	if (!s)
		return;
	tracer_close(s->tracer);
	pidset_free(&s->snapped);
	free(s);
}
