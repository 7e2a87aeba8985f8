// SPDX-License-Identifier: GPL-2.0-only
/*
 * `heaptrail hist`: distributions per process: allocation sizes (per call site with --by-stack),
 * allocation lifetimes, memory syscall latencies, mmap sizes, and page faults by kind.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/commands.h"
#include "record/event.h"
#include "model/hist.h"
#include "output/hist_out.h"
#include "output/json.h"
#include "output/kreport_out.h"
#include "report/kreport.h"
#include "model/dists.h"
#include "output/dists_out.h"
#include "model/model.h"
#include "output/stack_out.h"
#include "report/report.h"
#include "source/source.h"
#include "symbols/symbolize.h"
#include "source/live/tracer.h"

/* hist's own options. */
static struct {
	unsigned top;	 /* call sites with --by-stack */
	bool by_stack;	 /* allocation sizes per call site too */
	uint64_t linear; /* bucket width; 0: log2 buckets */
} hist_opts = { .top = 10 };

enum { HIST_OPT_TOP = 1, HIST_OPT_BY_STACK, HIST_OPT_LINEAR };

static const struct cli_option hist_options[] = {
	{ "by-stack", 0, NULL, "Also allocation sizes per call site (the --top most frequent)",
	  HIST_OPT_BY_STACK, false },
	{ "top", 0, "N", "Call sites shown per process with --by-stack (default 10)", HIST_OPT_TOP,
	  false },
	{ "linear", 0, "STEP", "Linear buckets STEP wide instead of powers of two", HIST_OPT_LINEAR,
	  false },
	{ NULL },
};

static int hist_parse(int key, const char *arg)
{
	char *end;

	switch (key) {
	case HIST_OPT_TOP:
		return cli_parse_count("--top", arg, 1ul << 24, &hist_opts.top);
	case HIST_OPT_BY_STACK:
		hist_opts.by_stack = true;
		return 0;
	case HIST_OPT_LINEAR:
		errno = 0;
		hist_opts.linear = strtoull(arg, &end, 0);
		if (errno || *end || !*arg || *arg == '-' || hist_opts.linear == 0)
			return cli_usage_error("invalid --linear '%s': want a bucket width", arg);
		return 0;
	}
	return 0;
}

static const struct cli_example hist_examples[] = {
	{ "hist -c './myprog'", "sizes, lifetimes, syscall latencies, faults" },
	{ "hist -p 1234 -d 10 --by-stack", "sizes per call site for 10 s" },
	{ "hist -k -c './myprog'", "kernel allocations made by a command" },
	{ NULL },
};

/* The command as the command line knows it: heaptrail --help lists it, cli.c parses for it. */
CLI_COMMAND(hist, "sizes, lifetimes, syscall latencies, mmap sizes, faults",
	    "TARGET [--json] [--by-stack] [--linear STEP] [OPTION...]",
	    CLI_TARGET | CLI_INPUT | CLI_KERNEL | CLI_JSON | CLI_STACKS | CLI_FAULTS | CLI_SAMPLE);

struct hist_ctx {
	struct cli *cli;
	struct model *model;
	struct dists *dists;
	struct symbolizer *sym;
	struct json json;
	struct kreport kr; /* -k */
	struct khists kh;
};

static void on_event(void *ctx, const struct ht_hdr *rec)
{
	struct hist_ctx *hc = ctx;

	model_apply(hc->model, rec);
	dists_apply(hc->dists, rec);
	kreport_follow_symbols(&hc->kr, rec);
	if (hist_opts.by_stack)
		report_follow_modules(hc->sym, hc->model, rec);
}

int cmd_hist(struct cli *cli)
{
	struct hist_ctx hc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	/* snapshots only feed the symbols of --by-stack: without it, no /proc read per process */
	struct source_opts so = { cli->input, cli->duration,
				  hist_opts.by_stack && !cli->kernel_only, &o };
	struct source *src = NULL;
	int status = EXIT_RUNTIME;

	o.want_alloc = o.want_vm = o.want_fault = !cli->kernel_only;
	o.fault_batching = !cli->fault_stream;
	/* log2 histograms of the syscalls are kept in BPF; linear buckets need every call */
	o.sys_hists = !hist_opts.linear;
	o.capture_stacks = hist_opts.by_stack && !cli->kernel_only;
	hc.model = model_new();
	hc.dists = hc.model ? dists_new(hc.model, hist_opts.linear, hist_opts.by_stack) : NULL;
	hc.sym = symbolize_new();
	if (hc.dists && hc.sym)
		dists_set_true_frames(hc.dists, report_true_frames, hc.sym);
	kreport_hists_init(&hc.kh, hist_opts.linear);
	if (kreport_init(&hc.kr, hc.model, cli->input != NULL) || !hc.dists || !hc.sym)
		goto out;
	hc.kr.top = hist_opts.top;
	hc.kr.stack_depth = cli->stack_depth;
	kreport_hists_attach(&hc.kh, &hc.kr);
	symbolize_set_offline(hc.sym, cli->input != NULL);
	json_init(&hc.json, stdout);
	if (source_open(&so, on_event, &hc, "tracing; the histograms come at the end", &src) ||
	    source_run(src))
		goto out;
	struct dists_out rep = { .model = hc.model,
				 .dists = hc.dists,
				 .sym = hc.sym,
				 .kr = &hc.kr,
				 .kh = &hc.kh,
				 .by_stack = hist_opts.by_stack,
				 .top = hist_opts.top,
				 .stack_depth = cli->stack_depth,
				 .kernel_only = cli->kernel_only,
				 .kernel = cli->kernel || kmodel_seen(hc.kr.km) };

	status = EXIT_OK;
	if (cli->json)
		dists_out_json(&rep, &hc.json);
	else
		dists_out_text(&rep);
	status = cli_output_finish(status);
out:
	source_close(src);
	dists_free(hc.dists);
	kreport_hists_free(&hc.kh);
	kreport_fini(&hc.kr);
	symbolize_free(hc.sym);
	model_free(hc.model);
	return status;
}
