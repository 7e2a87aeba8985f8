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

/* The command as the command line knows it: heaptrail --help lists it, cli.c parses for it. */
CLI_COMMAND(hist, "sizes, lifetimes, syscall latencies, mmap sizes, faults",
	    "TARGET [--json] [--by-stack] [--linear STEP] [OPTION...]",
	    CLI_TARGET | CLI_INPUT | CLI_KERNEL | CLI_JSON | CLI_STACKS | CLI_FAULTS);

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
	kreport_follow(&hc->kr, rec);
	if (hist_opts.by_stack)
		report_follow_modules(hc->sym, hc->model, rec);
}

/* ---------------------------------------------------------------- text */

static void text_hist(const char *title, const char *unit, const struct hist *h)
{
	if (!h->total)
		return;
	printf("\n  %s\n", title);
	hist_out_text(stdout, h, unit);
}

static void text_report(struct hist_ctx *hc)
{
	for (size_t i = 0; !hc->cli->kernel_only && i < dists_nprocs(hc->dists); i++) {
		const struct dists_proc *ph = dists_proc(hc->dists, i);
		uint64_t nfaults = 0;

		printf("pid %u (%s)%s\n", ph->p->pid, ph->p->comm, ph->p->exited ? ", exited" : "");
		text_hist("alloc_size", "bytes", &ph->size);
		text_hist("alloc_lifetime", "ns", &ph->lifetime);
		for (int s = 1; s < HT_SYS_MAX; s++) {
			char title[64];

			snprintf(title, sizeof(title), "syscall_latency %s",
				 ht_sys_name((unsigned)s));
			text_hist(title, "ns", &ph->sys[s]);
		}
		text_hist("mmap_size", "bytes", &ph->mmap_size);
		for (int k = 0; k < DISTS_FAULT_KINDS; k++)
			nfaults += ph->faults[k];
		if (nfaults) {
			printf("\n  faults\n");
			for (int k = 0; k < DISTS_FAULT_KINDS; k++)
				if (ph->faults[k])
					printf("     %-19s : %" PRIu64 "\n",
					       dists_fault_kind_names[k], ph->faults[k]);
		}
		if (hist_opts.by_stack) {
			for (size_t k = 0; k < ph->nstacks && k < hist_opts.top; k++) {
				printf("\n  alloc_size from:\n");
				stack_out_text(hc->sym, hc->model, ph->p, ph->by_stack[k].stack,
					       hc->cli->stack_depth);
				hist_out_text(stdout, &ph->by_stack[k].size, "bytes");
			}
		}
		printf("\n");
	}
	if (hc->cli->kernel || kmodel_seen(hc->kr.km))
		kreport_out_hists_text(&hc->kh, &hc->kr, stdout);
	printf("lost:");
	for (int k = 0; k < HT_LOST_MAX; k++)
		printf(" %s=%" PRIu64, ht_lost_kind_name(k), model_lost(hc->model)[k]);
	printf("\n");
}

/* ---------------------------------------------------------------- JSON */

static void json_hist_begin(struct json *j, const struct dists_proc *ph, const char *name,
			    const char *unit)
{
	json_object_begin(j);
	json_kv_u64(j, "pid", ph->p->pid);
	json_kv_string(j, "comm", ph->p->comm);
	json_kv_u64(j, "start_ns", ph->p->start_ns);
	json_kv_string(j, "name", name);
	json_kv_string(j, "unit", unit);
}

static void json_hist(struct json *j, const struct dists_proc *ph, const char *name,
		      const char *unit, const struct hist *h)
{
	json_hist_begin(j, ph, name, unit);
	hist_out_json(j, h);
	json_object_end(j);
}

static void json_report(struct hist_ctx *hc)
{
	struct json *j = &hc->json;
	bool kernel = hc->cli->kernel || kmodel_seen(hc->kr.km);

	json_object_begin(j);
	json_key(j, "histograms");
	json_array_begin(j);
	for (size_t i = 0; !hc->cli->kernel_only && i < dists_nprocs(hc->dists); i++) {
		const struct dists_proc *ph = dists_proc(hc->dists, i);

		json_hist(j, ph, "alloc_size", "bytes", &ph->size);
		json_hist(j, ph, "alloc_lifetime", "ns", &ph->lifetime);
		for (int s = 1; s < HT_SYS_MAX; s++) {
			if (!ph->sys[s].total)
				continue;
			json_hist_begin(j, ph, "syscall_latency", "ns");
			json_kv_string(j, "syscall", ht_sys_name((unsigned)s));
			hist_out_json(j, &ph->sys[s]);
			json_object_end(j);
		}
		json_hist(j, ph, "mmap_size", "bytes", &ph->mmap_size);
		json_hist_begin(j, ph, "faults", "kind");
		json_key(j, "buckets");
		json_array_begin(j);
		for (int k = 0; k < DISTS_FAULT_KINDS; k++) {
			json_object_begin(j);
			json_kv_u64(j, "lo", (uint64_t)k);
			json_kv_u64(j, "hi", (uint64_t)k + 1);
			json_kv_u64(j, "count", ph->faults[k]);
			json_kv_string(j, "label", dists_fault_kind_names[k]);
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
		if (hist_opts.by_stack) {
			for (size_t k = 0; k < ph->nstacks && k < hist_opts.top; k++) {
				json_hist_begin(j, ph, "alloc_size", "bytes");
				stack_out_json(j, hc->sym, hc->model, ph->p, ph->by_stack[k].stack,
					       hc->cli->stack_depth);
				hist_out_json(j, &ph->by_stack[k].size);
				json_object_end(j);
			}
		}
	}
	if (kernel)
		kreport_out_hists_json(&hc->kh, &hc->kr, j);
	json_array_end(j);
	if (kernel) {
		json_key(j, "kmem_waste");
		kreport_out_waste_json(&hc->kr, j);
	}
	json_key(j, "lost");
	json_object_begin(j);
	for (int k = 0; k < HT_LOST_MAX; k++)
		json_kv_u64(j, ht_lost_kind_name(k), model_lost(hc->model)[k]);
	json_object_end(j);
	json_object_end(j);
	json_line_end(j);
}

int cmd_hist(struct cli *cli)
{
	struct hist_ctx hc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	struct source_opts so = { cli->input, cli->duration, true, &o };
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
	status = EXIT_OK;
	if (cli->json)
		json_report(&hc);
	else
		text_report(&hc);
	fflush(stdout);
out:
	source_close(src);
	dists_free(hc.dists);
	kreport_hists_free(&hc.kh);
	kreport_fini(&hc.kr);
	symbolize_free(hc.sym);
	model_free(hc.model);
	return status;
}
