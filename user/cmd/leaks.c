// SPDX-License-Identifier: GPL-2.0-only
/*
 * `heaptrail leaks`: what is still allocated, per process, grouped by the stack that allocated
 * it, largest first; at the end of tracing, and every --interval with each stack's growth.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/commands.h"
#include "record/event.h"
#include "model/births.h"
#include "model/dists.h"
#include "model/space.h"
#include "output/folded_out.h"
#include "output/html_out.h"
#include "output/json.h"
#include "output/leaks_out.h"
#include "output/outfile.h"
#include "output/pprof_out.h"
#include "report/kreport.h"
#include "report/leaks.h"
#include "model/model.h"
#include "report/report.h"
#include "source/source.h"
#include "symbols/symbolize.h"
#include "source/live/tracer.h"
#include "util/procinfo.h"
#include "util/say.h"

/* leaks' own options. */
static struct {
	unsigned top; /* stacks per process */
	uint64_t min_age_ns;
	double interval;
	bool floor; /* benchmarks: the probes count their hits, nothing else */
	const char *folded;
	enum folded_metric folded_metric;
	const char *pprof;
	const char *html;
	bool page_only; /* `heaptrail report`: the page, no report on stdout */
} leaks_opts = { .top = 10 };

enum {
	LEAKS_OPT_TOP = 1,
	LEAKS_OPT_MIN_AGE,
	LEAKS_OPT_INTERVAL,
	LEAKS_OPT_FLOOR,
	LEAKS_OPT_FOLDED,
	LEAKS_OPT_FOLDED_METRIC,
	LEAKS_OPT_PPROF,
	LEAKS_OPT_HTML,
};

static const struct cli_option leaks_options[] = {
	{ "top", 0, "N", "Stacks shown per process, largest first (default 10)", LEAKS_OPT_TOP,
	  false },
	{ "min-age", 0, "MS",
	  "Only allocations at least this old at the end of tracing (default 0)", LEAKS_OPT_MIN_AGE,
	  false },
	{ "interval", 0, "SECONDS",
	  "Also report every SECONDS, with each stack's growth since the previous report",
	  LEAKS_OPT_INTERVAL, true },
	{ "folded", 0, "FILE",
	  "Also folded stacks for flame graphs (flamegraph.pl, speedscope), every stack of every "
	  "process",
	  LEAKS_OPT_FOLDED, false },
	{ "folded-metric", 0, "METRIC",
	  "What --folded counts: live-bytes (default), live-allocs, or alloc-bytes (allocated "
	  "over the run, freed or not)",
	  LEAKS_OPT_FOLDED_METRIC, false },
	{ "pprof", 0, "FILE",
	  "Also a pprof profile (gzipped profile.proto, as Go's heap profile): alloc and inuse "
	  "objects and bytes per stack, for go tool pprof",
	  LEAKS_OPT_PPROF, false },
	{ "html", 0, "FILE",
	  "Also one self-contained HTML page: per process a flame graph of live or allocated "
	  "bytes (click to zoom, search) and a table of call sites",
	  LEAKS_OPT_HTML, false },
	{ "floor", 0, NULL,
	  "Benchmarks: the same allocator probes, counting hits only (no events, no report)",
	  LEAKS_OPT_FLOOR, true },
	{ NULL },
};

static int leaks_parse(int key, const char *arg)
{
	char *end;
	double ms;

	switch (key) {
	case LEAKS_OPT_TOP:
		return cli_parse_count("--top", arg, 1ul << 24, &leaks_opts.top);
	case LEAKS_OPT_MIN_AGE:
		errno = 0;
		ms = strtod(arg, &end);
		if (errno || *end || !*arg || !(ms >= 0))
			return cli_usage_error("invalid --min-age '%s': want milliseconds", arg);
		leaks_opts.min_age_ns = (uint64_t)(ms * 1e6);
		return 0;
	case LEAKS_OPT_INTERVAL:
		return cli_parse_seconds("--interval", arg, &leaks_opts.interval);
	case LEAKS_OPT_FLOOR:
		leaks_opts.floor = true;
		return 0;
	case LEAKS_OPT_FOLDED:
		leaks_opts.folded = arg;
		return 0;
	case LEAKS_OPT_PPROF:
		leaks_opts.pprof = arg;
		return 0;
	case LEAKS_OPT_HTML:
		leaks_opts.html = arg;
		return 0;
	case LEAKS_OPT_FOLDED_METRIC:
		for (int m = 0; m < FOLDED_METRICS; m++)
			if (!strcmp(arg, folded_metric_names[m])) {
				leaks_opts.folded_metric = m;
				return 0;
			}
		return cli_usage_error("--folded-metric '%s': want live-bytes, live-allocs or "
				       "alloc-bytes",
				       arg);
	}
	return 0;
}

static const struct cli_example leaks_examples[] = {
	{ "leaks -c ./myprog --top 5", "the 5 largest leaking stacks at exit" },
	{ "leaks -p 1234 --interval 10", "a report every 10 s, with each stack's growth" },
	{ "leaks -p 1234 -d 60 --pprof heap.pb.gz", "a minute of pid 1234, for go tool pprof" },
	{ "leaks -k -d 30 --min-age 5000", "kernel allocations outstanding for 5 s or more" },
	{ "leaks -i run.htr --folded out.folded", "a recording's leaks as folded stacks" },
	{ "leaks -c ./myprog --html leaks.html", "a page to open in a browser: flame graphs" },
	{ "leaks -p 1234 --sample-bytes 512K", "exact totals, stacks from a sample: cheaper" },
	{ NULL },
};

/* The command as the command line knows it: heaptrail --help lists it, cli.c parses for it. */
CLI_COMMAND(leaks, "live allocations at the end, grouped by stack, largest first",
	    "TARGET [--json] [--top N] [--min-age MS] [--interval S] [OPTION...]",
	    CLI_TARGET | CLI_INPUT | CLI_KERNEL | CLI_JSON | CLI_STACKS | CLI_FREE_STACKS |
		    CLI_SAMPLE);

struct leaks_ctx {
	struct cli *cli;
	struct model *model;
	struct symbolizer *sym;
	struct json json;
	struct leaks *leaks;
	unsigned reports;
	struct kreport kr;		   /* -k */
	struct report_allocator_code code; /* what the model asks about frees */
	struct dists *dists; /* --folded-metric alloc-bytes, --pprof, --html: what was allocated */
	struct births *births; /* --html: when it was allocated */
	struct space *space;   /* --html: memory over time */
	uint64_t first_ns;     /* the first record's time: the profile's duration */
	struct source *src;
	uint64_t next_stacks_ns; /* live: when unused stacks are next dropped */
};

/*
 * Live, the stacks of allocations all freed since are dropped this often: beside a busy machine
 * most distinct stacks are of short-lived allocations, and they were most of heaptrail's memory.
 */
#define LEAKS_STACKS_CHECK_NS 5000000000ull

/* The kernel section: asked for (-k), or the recording has kernel allocations. */
static bool show_kernel(const struct leaks_ctx *lc)
{
	return lc->cli->kernel || kmodel_seen(lc->kr.km);
}

static void on_event(void *ctx, const struct ht_hdr *rec)
{
	struct leaks_ctx *lc = ctx;

	model_apply(lc->model, rec);
	report_follow_modules(lc->sym, lc->model, rec);
	report_retain_leaked(lc->sym, lc->model, lc->dists, rec);
	kreport_follow_symbols(&lc->kr, rec);
	if (!lc->first_ns)
		lc->first_ns = rec->ts_ns;
	if (lc->dists)
		dists_apply(lc->dists, rec);
	if (lc->space)
		space_apply(lc->space, rec);
}

static void report(struct leaks_ctx *lc, bool interval)
{
	/* Ages are measured to now, on the records' clock. A recording ends at its last record. */
	uint64_t now = source_now_ns();

	if (lc->cli->input || now < model_now(lc->model))
		now = model_now(lc->model);
	struct leaks_out o = { .model = lc->model,
			       .leaks = lc->leaks,
			       .sym = lc->sym,
			       .kr = &lc->kr,
			       .top = leaks_opts.top,
			       .stack_depth = lc->cli->stack_depth,
			       .kernel_only = lc->cli->kernel_only,
			       .kernel = show_kernel(lc),
			       .interval = interval,
			       .report = ++lc->reports };

	if (lc->cli->json)
		leaks_out_json(&o, &lc->json, now);
	else
		leaks_out_text(&o, now);
}

/* --pprof, at the end: 0, or -1 after saying why. */
static int write_pprof(struct leaks_ctx *lc, struct out_file *out)
{
	uint64_t now = model_now(lc->model);
	struct pprof_out o = { .model = lc->model,
			       .leaks = lc->leaks,
			       .dists = lc->dists,
			       .sym = lc->sym,
			       .kr = show_kernel(lc) ? &lc->kr : NULL,
			       .duration_ns = lc->first_ns && now > lc->first_ns
						      ? now - lc->first_ns
						      : 0 };

	if (!out->f)
		return 0;
	if (pprof_out_write(out->f, out->path, &o, now)) {
		outfile_close(out);
		return -1;
	}
	return outfile_close(out);
}

/* --folded, at the end: 0, or -1 after saying why. */
static int write_folded(struct leaks_ctx *lc, struct out_file *out)
{
	struct folded_out o = { .model = lc->model,
				.leaks = lc->leaks,
				.dists = lc->dists,
				.sym = lc->sym,
				.metric = leaks_opts.folded_metric,
				.stack_depth = lc->cli->stack_depth };

	if (!out->f)
		return 0;
	if (folded_out_write(out->f, &o, model_now(lc->model))) {
		say("%s: out of memory", out->path);
		outfile_close(out);
		return -1;
	}
	return outfile_close(out);
}

/* --html, at the end: 0, or -1 after saying why. */
static int write_html(struct leaks_ctx *lc, struct out_file *out)
{
	struct html_out o = { .model = lc->model,
			      .leaks = lc->leaks,
			      .dists = lc->dists,
			      .births = lc->births,
			      .space = lc->space,
			      .kr = show_kernel(lc) ? &lc->kr : NULL,
			      .sym = lc->sym,
			      .stack_depth = lc->cli->stack_depth,
			      .argc = lc->cli->argc,
			      .argv = lc->cli->args,
			      .input = lc->cli->input };

	if (!out->f)
		return 0;
	if (html_out_write(out->f, &o, model_now(lc->model))) {
		say("%s: out of memory", out->path);
		outfile_close(out);
		return -1;
	}
	return outfile_close(out);
}

/*
 * What heaptrail's own memory came to: the per-allocation budget (make bench reads it), and
 * with -v its largest tables.
 */
static void print_memory(struct leaks_ctx *lc)
{
	struct self_memory self;
	struct model_mem mm;
	struct symbolize_mem sm;

	proc_self_memory(&self);
	model_memory(lc->model, &mm);
	say("memory: %zu bytes of allocation tables for %zu live allocations (%.1f bytes each); "
	    "RSS %" PRIu64 " KiB, peak RSS %" PRIu64 " KiB",
	    mm.alloc_bytes, mm.live, mm.live ? (double)mm.alloc_bytes / (double)mm.live : 0.0,
	    self.rss_kib, self.peak_kib);
	if (!lc->cli->verbose)
		return;
	symbolize_memory(lc->sym, &sm);
	say("RSS %" PRIu64 " KiB: %" PRIu64 " anonymous (the heap below), %" PRIu64
	    " in files mapped, of which %" PRIu64
	    " are the BPF maps (the ring buffer counts twice: --ringbuf-size)",
	    self.rss_kib, self.anon_kib, self.file_kib, self.bpf_kib);
	say("tables: allocations %zu KiB (%zu live in %zu processes, exited ones included, whose "
	    "records take %zu KiB); stacks %zu KiB (%zu distinct, %" PRIu64
	    " dropped once unused); symbolizer %zu KiB (%zu files, %zu of them read; %zu "
	    "addresses resolved to %zu frames; module lists of %zu processes, %zu mappings)",
	    mm.alloc_bytes / 1024, mm.live, mm.procs, mm.procs_bytes / 1024, mm.stacks_bytes / 1024,
	    mm.stacks, model_stacks_dropped(lc->model), sm.bytes / 1024, sm.files, sm.files_read,
	    sm.cached, sm.frames, sm.procs, sm.ranges);
	if (self.heap_bytes)
		say("heap: %" PRIu64
		    " KiB allocated, %zu KiB of it in the tables above; the rest is mostly libdw's "
		    "symbol tables and debug info of the files read",
		    self.heap_bytes / 1024,
		    (mm.alloc_bytes + mm.procs_bytes + mm.stacks_bytes + sm.bytes) / 1024);
}

static void on_tick(void *ctx)
{
	report(ctx, true);
}

/* What the report still needs beyond the model's own: growth's last sums, -k's allocations. */
static void leaks_mark(void *ctx, struct model *m)
{
	struct leaks_ctx *lc = ctx;

	leaks_keep_stacks(lc->leaks, m);
	kreport_keep_stacks(&lc->kr, m);
}

static void leaks_idle(void *ctx)
{
	struct leaks_ctx *lc = ctx;
	uint64_t now = source_now_ns();

	if (now < lc->next_stacks_ns)
		return;
	lc->next_stacks_ns = now + LEAKS_STACKS_CHECK_NS;
	source_drop_unused_stacks(lc->src, lc->model);
}

int cmd_leaks(struct cli *cli)
{
	struct leaks_ctx lc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	/* snapshots feed the symbols of user stacks, which -k alone has none of */
	struct source_opts so = { cli->input, cli->duration, !cli->kernel_only, &o };
	struct source *src = NULL;
	int status = EXIT_RUNTIME;
	char banner[128];
	struct out_file folded = { 0 }, pprof = { 0 }, html = { 0 };

	/* before anything is traced: a path that cannot be written must not cost the run */
	if (outfile_open(&folded, leaks_opts.folded) || outfile_open(&pprof, leaks_opts.pprof) ||
	    outfile_open(&html, leaks_opts.html)) {
		if (folded.f)
			fclose(folded.f);
		if (pprof.f)
			fclose(pprof.f);
		return EXIT_RUNTIME;
	}
	o.want_alloc = !cli->kernel_only;
	o.capture_stacks = !cli->kernel_only;
	o.kmem_stacks = cli->kernel;
	o.floor_only = leaks_opts.floor;
	lc.model = model_new();
	lc.sym = symbolize_new();
	lc.leaks = lc.model ? leaks_new(lc.model, leaks_opts.min_age_ns) : NULL;
	if (lc.model)
		model_set_exit_age(lc.model, leaks_opts.min_age_ns);
	if (lc.leaks && lc.sym)
		leaks_set_true_frames(lc.leaks, report_true_frames, lc.sym);
	if (lc.model && (leaks_opts.pprof || leaks_opts.html ||
			 (leaks_opts.folded && leaks_opts.folded_metric == FOLDED_ALLOC_BYTES))) {
		lc.dists = dists_new(lc.model, 0, true);
		if (!lc.dists)
			goto out;
		dists_set_true_frames(lc.dists, report_true_frames, lc.sym);
	}
	if (lc.model && leaks_opts.html) {
		/* the page's chart: the series timeline draws, from the same events */
		o.want_vm = o.want_rss = !cli->kernel_only;
		o.hold_at_exec = true;
		o.sample_totals_often = true; /* sampled: the live series from the totals */
		lc.births = births_new(lc.model);
		lc.space = space_new(lc.model);
		if (!lc.births || !lc.space)
			goto out;
	}
	if (kreport_init(&lc.kr, lc.model, cli->input != NULL) || !lc.leaks || !lc.sym)
		goto out;
	lc.kr.top = leaks_opts.top;
	lc.kr.stack_depth = cli->stack_depth;
	lc.kr.min_age_ns = leaks_opts.min_age_ns;
	json_init(&lc.json, stdout);
	lc.code = (struct report_allocator_code){ lc.sym, cli->libs, cli->nlibs };
	model_set_internal(lc.model, report_is_allocator_code, &lc.code);
	symbolize_set_offline(lc.sym, cli->input != NULL);
	snprintf(banner, sizeof(banner), "tracing %sallocations; the report comes at the end%s",
		 cli->kernel_only ? "kernel " : "",
		 leaks_opts.interval ? " and every --interval" : "");
	if (model_add_hooks(lc.model, &(struct model_hooks){ .mark = leaks_mark, .ctx = &lc }))
		goto out;
	if (source_open(&so, on_event, &lc, banner, &src))
		goto out;
	lc.src = src;
	source_set_tick(src, leaks_opts.interval, on_tick);
	source_set_idle(src, leaks_idle);
	if (source_run(src))
		goto out;
	status = EXIT_OK;
	if (leaks_opts.floor) {
		say("floor: %" PRIu64 " allocator probe hits", source_floor_hits(src));
		goto out;
	}
	if (lc.space)
		space_finish(lc.space);
	if (!leaks_opts.page_only)
		report(&lc, false);
	if (write_folded(&lc, &folded))
		status = EXIT_RUNTIME;
	if (write_pprof(&lc, &pprof))
		status = EXIT_RUNTIME;
	if (write_html(&lc, &html))
		status = EXIT_RUNTIME;
	if (leaks_opts.page_only) {
		if (status == EXIT_OK)
			say("wrote %s: %zu processes", leaks_opts.html, model_nprocs(lc.model));
		goto out;
	}
	status = cli_output_finish(status);
	print_memory(&lc);
out:
	if (folded.f)
		fclose(folded.f);
	if (pprof.f)
		fclose(pprof.f);
	if (html.f)
		fclose(html.f);
	source_close(src);
	dists_free(lc.dists);
	births_free(lc.births);
	space_free(lc.space);
	leaks_free(lc.leaks);
	symbolize_free(lc.sym);
	kreport_fini(&lc.kr);
	model_free(lc.model);
	return status;
}

int leaks_page(struct cli *cli, const char *path)
{
	leaks_opts.html = path;
	leaks_opts.page_only = true;
	return cmd_leaks(cli);
}
