// SPDX-License-Identifier: GPL-2.0-only
/* `heaptrail trace`: every selected event as a line for people or a JSON object per line. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "model/comm.h"
#include "cmd/commands.h"
#include "output/event_fmt.h"
#include "record/event.h"
#include "symbols/ksyms.h"
#include "source/source.h"
#include "source/live/tracer.h"
#include "util/outpipe.h"
#include "util/say.h"

/* trace's own options. */
static struct {
	uint64_t kinds; /* -e */
} trace_opts = {
	.kinds = HT_KINDS_ALL & ~(HT_KIND_BIT(HT_K_FAULT) | HT_KIND_BIT(HT_K_RSS)),
};

enum { TRACE_OPT_EVENTS = 'e' };

static const struct cli_option trace_options[] = {
	{ "events", 'e', "LIST",
	  "Event kinds to show: names (malloc,free,mmap,fault,...) or groups (alloc,vm,process,"
	  "kernel,all); default all but fault and rss",
	  TRACE_OPT_EVENTS, false },
	{ NULL },
};

static int trace_parse(int key, const char *arg)
{
	if (key == TRACE_OPT_EVENTS && ht_kinds_parse(arg, &trace_opts.kinds))
		return EXIT_USAGE;
	return 0;
}

static const struct cli_example trace_examples[] = {
	{ "trace -c './myprog arg'", "a command's events from its first instruction" },
	{ "trace -p 1234 -e alloc --json", "allocator calls of pid 1234 as JSON Lines" },
	{ "trace -a -e mmap,munmap -d 5", "every process's mmap and munmap for 5 seconds" },
	{ NULL },
};

/* The command as the command line knows it: heaptrail --help lists it, cli.c parses for it. */
CLI_COMMAND(trace, "live event stream, one line (or one JSON object) per event",
	    "TARGET [--json] [-e LIST] [OPTION...]",
	    CLI_TARGET | CLI_INPUT | CLI_KERNEL | CLI_JSON);

struct trace_ctx {
	struct cli *cli;
	struct comm_cache *comms;
	struct json json;
	struct source *src;
	struct ksyms *ksyms;	    /* -k: call sites by name */
	uint64_t lost[HT_LOST_MAX]; /* from the lost records, live or recorded */
};

/* Names change on exec and rename; exits forget them once printed. */
static void track_comm(struct trace_ctx *tc, const struct ht_hdr *rec)
{
	switch (rec->type) {
	case HT_REC_EXEC:
		comm_cache_forget(tc->comms, rec->pid);
		comm_cache_set(tc->comms, rec->pid, rec->pid, ((const struct ht_exec *)rec)->comm);
		break;
	case HT_REC_FORK: {
		const struct ht_fork *f = (const void *)rec;

		comm_cache_set(tc->comms, f->child_pid, f->child_pid, f->comm);
		break;
	}
	case HT_REC_COMM:
		comm_cache_set(tc->comms, rec->pid, rec->tid, ((const struct ht_comm *)rec)->comm);
		break;
	}
}

static void on_event(void *ctx, const struct ht_hdr *rec)
{
	struct trace_ctx *tc = ctx;
	int kind = ht_rec_kind(rec);
	struct event_fmt_ctx fc = { .t0_ns = source_start_ns(tc->src), .ksyms = tc->ksyms };

	track_comm(tc, rec);
	ksyms_follow(tc->ksyms, rec);
	if (rec->type == HT_REC_LOST)
		tc->lost[((const struct ht_lost *)rec)->kind] +=
			((const struct ht_lost *)rec)->count;
	/* Losses are shown whatever -e says. */
	if (kind == HT_K_NONE || (kind != HT_K_LOST && !(trace_opts.kinds & HT_KIND_BIT(kind))))
		goto out;
	/* /proc tells the names of live processes, not of recorded ones */
	fc.comm = rec->type == HT_REC_LOST
			  ? ""
			  : comm_cache_get(tc->comms, rec->pid, rec->tid, !tc->cli->input);
	if (tc->cli->json) {
		event_fmt_json(&tc->json, rec, &fc);
		json_line_end(&tc->json);
	} else {
		event_fmt_text(stdout, rec, &fc);
	}
	/* the reader went away (| head): nothing more to do (a pipe seen idle, the tracer sees) */
	if (ferror(stdout) && errno == EPIPE)
		source_request_stop();
out:
	if (rec->type == HT_REC_EXIT)
		comm_cache_forget(tc->comms, rec->pid);
}

static void print_loss_summary(const uint64_t lost[HT_LOST_MAX])
{
	char line[HT_LOST_MAX * 40] = "";
	uint64_t total = 0;
	size_t n = 0;

	for (int k = 0; k < HT_LOST_MAX; k++)
		total += lost[k];
	if (!total) {
		say("lost events: none");
		return;
	}
	for (int k = 0; k < HT_LOST_MAX; k++)
		if (lost[k])
			n += snprintf(line + n, sizeof(line) - n, " %s=%" PRIu64,
				      ht_lost_kind_name(k), lost[k]);
	say("LOST events:%s%s", line, lost[HT_LOST_RINGBUF] ? " (raise --ringbuf-size)" : "");
}

int cmd_trace(struct cli *cli)
{
	struct trace_ctx tc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	struct source_opts so = { cli->input, cli->duration, false, &o };
	int status = EXIT_RUNTIME;
	char banner[512];

	o.want_alloc = trace_opts.kinds & HT_KINDS_ALLOC;
	o.want_vm = trace_opts.kinds & HT_KINDS_VM;
	o.want_fault = trace_opts.kinds & HT_KIND_BIT(HT_K_FAULT);
	o.want_rss = trace_opts.kinds & HT_KIND_BIT(HT_K_RSS);
	if (cli->kernel_only)
		o.want_alloc = o.want_vm = o.want_fault = o.want_rss = false;
	tc.ksyms = ksyms_new();
	if (cli->kernel && !cli->input && ksyms_load_proc(tc.ksyms))
		say("cannot read kernel symbols from /proc/kallsyms; call sites are shown as "
		    "addresses");
	if (cli->kernel_only)
		snprintf(banner, sizeof(banner), "tracing the kernel's allocators%s",
			 cli->duration ? "" : "; Ctrl-C to stop");
	else if (cli->all)
		snprintf(banner, sizeof(banner), "tracing every process%s",
			 cli->duration ? "" : "; Ctrl-C to stop");
	else if (cli->npids)
		snprintf(banner, sizeof(banner), "tracing %d process%s; Ctrl-C to stop", cli->npids,
			 cli->npids > 1 ? "es" : "");
	else if (cli->argv)
		snprintf(banner, sizeof(banner), "tracing '%s'", cli->argv[0]);
	tc.comms = comm_cache_new();
	if (!tc.comms)
		return EXIT_RUNTIME;
	json_init(&tc.json, stdout);
	if (source_open(&so, on_event, &tc, banner, &tc.src))
		goto out;
	if (!cli->json)
		printf("%13s %7s %7s %-16s %s\n", "TIME(s)", "PID", "TID", "COMM", "EVENT");
	outpipe_flush(stdout);
	status = cli_output_finish(source_run(tc.src) ? EXIT_RUNTIME : EXIT_OK);
	if (status == EXIT_OK)
		print_loss_summary(tc.lost);
out:
	source_close(tc.src);
	comm_cache_free(tc.comms);
	ksyms_free(tc.ksyms);
	return status;
}
