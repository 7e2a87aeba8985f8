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
#include "output/timeline_out.h"
#include "model/space.h"

/* timeline's own options: where its pictures and tables go. */
static struct {
	const char *perfetto, *csv, *svg;
} timeline_opts;

enum { TIMELINE_OPT_PERFETTO = 1, TIMELINE_OPT_CSV, TIMELINE_OPT_SVG };

static const struct cli_option timeline_options[] = {
	{ "perfetto", 0, "FILE", "Chrome trace-event JSON for ui.perfetto.dev or chrome://tracing",
	  TIMELINE_OPT_PERFETTO, false },
	{ "csv", 0, "FILE", "Every series point as CSV rows", TIMELINE_OPT_CSV, false },
	{ "svg", 0, "FILE", "A chart per process", TIMELINE_OPT_SVG, false },
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
	return 0;
}

/* The command as the command line knows it: heaptrail --help lists it, cli.c parses for it. */
CLI_COMMAND(timeline, "address space, heap, live bytes, RSS and faults over time",
	    "TARGET [--json | --perfetto FILE | --csv FILE | --svg FILE] [OPTION...]",
	    CLI_TARGET | CLI_INPUT | CLI_JSON | CLI_FAULTS);

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

static void json_report(struct tl_ctx *tc)
{
	struct json *j = &tc->json;

	json_object_begin(j);
	json_key(j, "processes");
	json_array_begin(j);
	for (size_t i = 0; i < space_nprocs(tc->space); i++) {
		const struct space_proc *t = space_proc(tc->space, i);

		json_object_begin(j);
		json_kv_u64(j, "pid", t->p->pid);
		json_kv_string(j, "comm", t->p->comm);
		json_kv_u64(j, "start_ns", t->p->start_ns);
		json_kv_bool(j, "exited", t->p->exited);
		json_key(j, "series");
		json_object_begin(j);
		for (int k = 0; k < SPACE_SERIES_MAX; k++) {
			json_key(j, space_series_names[k]);
			json_array_begin(j);
			for (size_t p = 0; p < t->s[k].n; p++) {
				json_array_begin(j);
				json_u64(j, t->s[k].pts[2 * p]);
				json_u64(j, t->s[k].pts[2 * p + 1]);
				json_array_end(j);
			}
			json_array_end(j);
		}
		json_object_end(j);
		json_key(j, "faults");
		json_object_begin(j);
		json_kv_u64(j, "total", t->faults);
		json_kv_u64(j, "first_touch", t->first_touch);
		json_key(j, "by_kind");
		json_object_begin(j);
		for (int k = 0; k <= VMA_SPECIAL + 1; k++) {
			if (!t->faults_by_kind[k][0] && !t->faults_by_kind[k][1])
				continue;
			json_key(j, k <= VMA_SPECIAL ? vma_kind_name(k) : "unmapped");
			json_object_begin(j);
			json_kv_u64(j, "read", t->faults_by_kind[k][0]);
			json_kv_u64(j, "write", t->faults_by_kind[k][1]);
			json_object_end(j);
		}
		json_object_end(j);
		json_object_end(j);
		json_key(j, "final_vmas");
		json_array_begin(j);
		for (size_t v = 0; v < t->vmas.n; v++) {
			const struct vma *m = &t->vmas.v[v];

			json_object_begin(j);
			json_kv_addr(j, "start", m->start);
			json_kv_addr(j, "end", m->end);
			json_kv_string(j, "perms", m->perms);
			json_kv_string(j, "kind", vma_kind_name(m->kind));
			json_key(j, "path");
			if (m->path)
				json_string(j, m->path);
			else
				json_null(j);
			if (m->locked)
				json_kv_bool(j, "locked", true);
			if (m->by_allocator)
				json_kv_bool(j, "by_allocator", true);
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "lost");
	json_object_begin(j);
	for (int k = 0; k < HT_LOST_MAX; k++)
		json_kv_u64(j, ht_lost_kind_name(k), model_lost(tc->model)[k]);
	json_object_end(j);
	json_object_end(j);
	json_line_end(j);
}

static void text_report(struct tl_ctx *tc)
{
	for (size_t i = 0; i < space_nprocs(tc->space); i++) {
		const struct space_proc *t = space_proc(tc->space, i);

		printf("pid %u (%s): %zu mappings, %" PRIu64 " bytes at the end\n", t->p->pid,
		       t->p->comm, t->vmas.n, vma_map_bytes(&t->vmas));
		for (int k = 0; k < SPACE_SERIES_MAX; k++) {
			uint64_t max = 0;

			for (size_t p = 0; p < t->s[k].n; p++)
				if (t->s[k].pts[2 * p + 1] > max)
					max = t->s[k].pts[2 * p + 1];
			if (t->s[k].n)
				printf("  %-13s %zu points, last %" PRIu64 ", max %" PRIu64 "\n",
				       space_series_names[k], t->s[k].n,
				       t->s[k].pts[2 * t->s[k].n - 1], max);
		}
		for (size_t v = 0; v < t->vmas.n; v++)
			printf("  %012" PRIx64 "-%012" PRIx64 " %s %-5s %s\n", t->vmas.v[v].start,
			       t->vmas.v[v].end, t->vmas.v[v].perms,
			       vma_kind_name(t->vmas.v[v].kind),
			       t->vmas.v[v].path ? t->vmas.v[v].path : "");
	}
}

/* The outputs asked for, each into its file. */
static int write_outputs(struct tl_ctx *tc)
{
	size_t nprocs = space_nprocs(tc->space);
	struct tl_process *procs = calloc(nprocs + 1, sizeof(*procs));
	struct tl_series *series = calloc(nprocs * SPACE_SERIES_MAX + 1, sizeof(*series));
	const struct {
		const char *path;
		void (*write)(FILE *, const struct tl_process *, size_t);
	} outs[] = { { timeline_opts.perfetto, timeline_out_perfetto },
		     { timeline_opts.csv, timeline_out_csv },
		     { timeline_opts.svg, timeline_out_svg } };
	int err = 0;

	if (!procs || !series) {
		free(procs);
		free(series);
		return -1;
	}
	for (size_t i = 0; i < space_nprocs(tc->space); i++) {
		const struct space_proc *t = space_proc(tc->space, i);

		for (int k = 0; k < SPACE_SERIES_MAX; k++)
			series[i * SPACE_SERIES_MAX + k] =
				(struct tl_series){ space_series_names[k], space_series_units[k],
						    t->s[k].pts, t->s[k].n };
		procs[i] = (struct tl_process){ t->p->pid,	  t->p->comm,
						t->p->start_ns,	  t->tids,
						t->ntids,	  &series[i * SPACE_SERIES_MAX],
						SPACE_SERIES_MAX, t->markers,
						t->nmarkers };
	}
	for (size_t o = 0; o < sizeof(outs) / sizeof(outs[0]); o++) {
		FILE *f;

		if (!outs[o].path)
			continue;
		f = fopen(outs[o].path, "we");
		if (!f) {
			fprintf(stderr, "heaptrail: cannot create %s: %s\n", outs[o].path,
				strerror(errno));
			err = -1;
			continue;
		}
		outs[o].write(f, procs, nprocs);
		if (fclose(f)) {
			fprintf(stderr, "heaptrail: writing %s: %s\n", outs[o].path,
				strerror(errno));
			err = -1;
		}
	}
	free(series);
	free(procs);
	return err;
}

int cmd_timeline(struct cli *cli)
{
	struct tl_ctx tc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	struct source_opts so = { cli->input, cli->duration, true, &o };
	struct source *src = NULL;
	int status = EXIT_RUNTIME;

	o.want_alloc = o.want_vm = o.want_fault = o.want_rss = true;
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
	status = write_outputs(&tc) ? EXIT_RUNTIME : EXIT_OK;
	if (cli->json)
		json_report(&tc);
	else if (!timeline_opts.perfetto && !timeline_opts.csv && !timeline_opts.svg)
		text_report(&tc);
	fflush(stdout);
out:
	source_close(src);
	space_free(tc.space);
	model_free(tc.model);
	return status;
}
