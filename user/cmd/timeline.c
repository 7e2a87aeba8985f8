// SPDX-License-Identifier: GPL-2.0-only
/*
 * `heaptrail timeline`: how each process's memory evolved, from the address-space model
 * (model/space.h): series of heap, live, mapped and resident bytes and faults, the final VMAs,
 * as JSON, text, Perfetto, CSV or SVG.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd/commands.h"
#include "record/event.h"
#include "output/json.h"
#include "model/model.h"
#include "source/source.h"
#include "output/space_out.h"
#include "model/space.h"

/* timeline's own options: where its pictures and tables go. */
static struct {
	const char *perfetto, *csv, *svg, *html;
} timeline_opts;

enum { TIMELINE_OPT_PERFETTO = 1, TIMELINE_OPT_CSV, TIMELINE_OPT_SVG, TIMELINE_OPT_HTML };

static const struct cli_option timeline_options[] = {
	{ "perfetto", 0, "FILE", "Chrome trace-event JSON for ui.perfetto.dev or chrome://tracing",
	  TIMELINE_OPT_PERFETTO, false },
	{ "csv", 0, "FILE", "Every series point as CSV rows", TIMELINE_OPT_CSV, false },
	{ "svg", 0, "FILE", "A chart per process", TIMELINE_OPT_SVG, false },
	{ "html", 0, "FILE",
	  "Instead: one HTML page, the chart with a time range to choose and the flame graphs of "
	  "what the range allocated (leaks --html's page)",
	  TIMELINE_OPT_HTML, false },
	{ NULL },
};

static int timeline_parse(int key, const char *arg)
{
	if (key == TIMELINE_OPT_PERFETTO)
		timeline_opts.perfetto = arg;
	else if (key == TIMELINE_OPT_CSV)
		timeline_opts.csv = arg;
	else if (key == TIMELINE_OPT_SVG)
		timeline_opts.svg = arg;
	else if (key == TIMELINE_OPT_HTML)
		timeline_opts.html = arg;
	return 0;
}

/* The page is another run (with stacks): it does not mix with the timeline's own forms. */
static int timeline_check(const struct cli *cli)
{
	if (timeline_opts.html &&
	    (timeline_opts.perfetto || timeline_opts.csv || timeline_opts.svg || cli->json))
		return cli_usage_error(
			"--html is a report of its own: not with --json, --perfetto, "
			"--csv or --svg");
	return 0;
}

static const struct cli_example timeline_examples[] = {
	{ "timeline -c './myprog' --svg mem.svg", "a chart of heap, mappings and RSS" },
	{ "timeline -i run.htr --perfetto t.json", "a recording, for ui.perfetto.dev" },
	{ "timeline -c './myprog' --html mem.html", "the chart, and what a time range allocated" },
	{ "timeline -p 1234 --sample-bytes 512K", "live bytes exact every 50 ms, cheaper" },
	{ NULL },
};

/* The command as the command line knows it: heaptrail --help lists it, cli.c parses for it. */
CLI_COMMAND(timeline, "address space, heap, live bytes, RSS and faults over time",
	    "TARGET [--json | --perfetto FILE | --csv FILE | --svg FILE] [OPTION...]",
	    CLI_TARGET | CLI_INPUT | CLI_JSON | CLI_FAULTS | CLI_SAMPLE, .check = timeline_check);

struct tl_ctx {
	struct cli *cli;
	struct model *model;
	struct space *space;
	struct json json;
};

static void on_event(void *ctx, const struct ht_hdr *rec)
{
	struct tl_ctx *tc = ctx;

	model_apply(tc->model, rec);
	space_apply(tc->space, rec);
}

int cmd_timeline(struct cli *cli)
{
	struct tl_ctx tc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	struct source_opts so = { cli->input, cli->duration, true, &o };
	struct source *src = NULL;
	int status = EXIT_RUNTIME;
	struct out_file files[3] = { 0 };

	if (timeline_opts.html)
		return leaks_page(cli, timeline_opts.html);
	/* before anything is traced: a path that cannot be written must not cost the run */
	if (outfile_open(&files[0], timeline_opts.perfetto) ||
	    outfile_open(&files[1], timeline_opts.csv) ||
	    outfile_open(&files[2], timeline_opts.svg)) {
		for (int i = 0; i < 3; i++)
			if (files[i].f)
				fclose(files[i].f);
		return EXIT_RUNTIME;
	}
	o.want_alloc = o.want_vm = o.want_fault = o.want_rss = true;
	o.sample_totals_often = true;
	o.fault_batching = !cli->fault_stream;
	o.hold_at_exec = true;
	tc.model = model_new();
	tc.space = tc.model ? space_new(tc.model) : NULL;
	if (!tc.space) {
		model_free(tc.model);
		return EXIT_RUNTIME;
	}
	json_init(&tc.json, stdout);
	if (source_open(&so, on_event, &tc, "tracing; the timeline comes at the end", &src) ||
	    source_run(src))
		goto out;
	space_finish(tc.space);
	status =
		space_out_files(tc.space, &files[0], &files[1], &files[2]) ? EXIT_RUNTIME : EXIT_OK;
	if (cli->json)
		space_out_json(tc.space, tc.model, &tc.json);
	else if (!timeline_opts.perfetto && !timeline_opts.csv && !timeline_opts.svg) {
		if (model_sample_bytes(tc.model))
			printf("sampled: live bytes and allocations exact, read every 50 ms\n");
		space_out_text(tc.space);
	}
	status = cli_output_finish(status);
out:
	for (int i = 0; i < 3; i++)
		if (files[i].f)
			fclose(files[i].f);
	source_close(src);
	space_free(tc.space);
	model_free(tc.model);
	return status;
}
