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
#include "report/kreport.h"
#include "model/model.h"
#include "report/report.h"
#include "source/source.h"
#include "symbols/symbolize.h"
#include "source/live/tracer.h"

/* read/write/exec x page not present/present */
#define FAULT_KINDS 6
static const char *const fault_kind_names[FAULT_KINDS] = {
	"read,not-present", "read,present",	"write,not-present",
	"write,present",    "exec,not-present", "exec,present",
};

struct stack_hist {
	uint32_t stack;
	struct hist size;
};

struct proc_hists {
	const struct model_proc *p;
	struct hist size, lifetime, mmap_size;
	struct hist sys[HT_SYS_MAX];
	uint64_t faults[FAULT_KINDS];
	struct stack_hist *by_stack;
	size_t nstacks;
};

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
const struct cli_command cmd_hist_command = {
	.name = "hist",
	.summary = "sizes, lifetimes, syscall latencies, mmap sizes, faults",
	.usage = "TARGET [--json] [--by-stack] [--linear STEP] [OPTION...]",
	.groups = CLI_TARGET | CLI_INPUT | CLI_KERNEL | CLI_JSON | CLI_STACKS | CLI_FAULTS,
	.options = hist_options,
	.parse = hist_parse,
	.run = cmd_hist,
};

struct hist_ctx {
	struct cli *cli;
	struct model *model;
	struct symbolizer *sym;
	struct json json;
	struct proc_hists **procs;
	size_t nprocs;
	struct kreport kr; /* -k */
	struct khists kh;
};

static struct proc_hists *hists_of(struct hist_ctx *hc, const struct model_proc *p)
{
	struct proc_hists *ph, **np;

	if (!p)
		return NULL;
	if (p->user)
		return p->user;
	np = realloc(hc->procs, (hc->nprocs + 1) * sizeof(*np));
	if (!np)
		return NULL;
	hc->procs = np;
	ph = calloc(1, sizeof(*ph));
	if (!ph)
		return NULL;
	ph->p = p;
	model_set_user(hc->model, p, ph);
	hist_init(&ph->size, hist_opts.linear);
	hist_init(&ph->lifetime, hist_opts.linear);
	hist_init(&ph->mmap_size, hist_opts.linear);
	for (int s = 0; s < HT_SYS_MAX; s++)
		hist_init(&ph->sys[s], hist_opts.linear);
	hc->procs[hc->nprocs++] = ph;
	return ph;
}

static void on_alloc(void *ctx, const struct model_proc *p, const struct model_alloc *a)
{
	struct hist_ctx *hc = ctx;
	struct proc_hists *ph = hists_of(hc, p);
	struct stack_hist *sh = NULL;

	if (!ph)
		return;
	hist_add(&ph->size, a->size);
	if (!hist_opts.by_stack)
		return;
	for (size_t i = 0; i < ph->nstacks && !sh; i++)
		if (ph->by_stack[i].stack == a->stack)
			sh = &ph->by_stack[i];
	if (!sh) {
		struct stack_hist *n = realloc(ph->by_stack, (ph->nstacks + 1) * sizeof(*n));

		if (!n)
			return;
		ph->by_stack = n;
		sh = &ph->by_stack[ph->nstacks++];
		sh->stack = a->stack;
		hist_init(&sh->size, hist_opts.linear);
	}
	hist_add(&sh->size, a->size);
}

static void on_free(void *ctx, const struct model_proc *p, const struct model_alloc *a,
		    uint64_t ts_ns)
{
	struct proc_hists *ph = hists_of(ctx, p);

	if (ph && ts_ns >= a->ts_ns)
		hist_add(&ph->lifetime, ts_ns - a->ts_ns);
}

static void on_event(void *ctx, const struct ht_hdr *rec)
{
	struct hist_ctx *hc = ctx;
	struct proc_hists *ph;
	int err;

	model_apply(hc->model, rec);
	kreport_follow(&hc->kr, rec);
	if (hist_opts.by_stack)
		report_follow_modules(hc->sym, hc->model, rec);
	switch (rec->type) {
	case HT_REC_SYSCALL: {
		const struct ht_syscall *s = (const void *)rec;

		ph = hists_of(hc, model_proc_live(hc->model, rec->pid));
		if (!ph)
			break;
		hist_add(&ph->sys[s->sys], s->lat_ns);
		if (s->sys == HT_SYS_MMAP && !ht_syscall_failed(s, &err))
			hist_add(&ph->mmap_size, s->args[1]);
		break;
	}
	case HT_REC_FAULT: {
		const struct ht_fault *f = (const void *)rec;
		int kind = (f->error_code & HT_PF_INSTR)   ? 4
			   : (f->error_code & HT_PF_WRITE) ? 2
							   : 0;

		ph = hists_of(hc, model_proc_live(hc->model, rec->pid));
		if (ph)
			ph->faults[kind + !!(f->error_code & HT_PF_PROT)]++;
		break;
	}
	}
}

/* Live, without --linear: the syscall histograms BPF kept, for the process of that pid. */
static void on_sys_hist(void *ctx, const struct ht_sys_hist_key *k, const struct ht_sys_hist *h)
{
	struct hist_ctx *hc = ctx;
	const struct model_proc *p = NULL;
	struct proc_hists *ph;

	/* the latest process of that pid (a reused pid shares the BPF entry: pids are the key) */
	for (size_t i = model_nprocs(hc->model); i-- > 0 && !p;)
		if (model_proc_at(hc->model, i)->pid == k->tgid)
			p = model_proc_at(hc->model, i);
	ph = hists_of(hc, p);
	if (!ph || k->sys == 0 || k->sys >= HT_SYS_MAX)
		return;
	hist_merge_log2(k->what == HT_SYS_HIST_MMAP_LEN ? &ph->mmap_size : &ph->sys[k->sys],
			(const uint64_t *)h->counts, HT_HIST_BUCKETS, h->total, h->sum, h->min,
			h->max);
}

static int by_count(const void *a, const void *b)
{
	const struct stack_hist *x = a, *y = b;

	return x->size.total < y->size.total ? 1 : x->size.total > y->size.total ? -1 : 0;
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
	for (size_t i = 0; !hc->cli->kernel_only && i < hc->nprocs; i++) {
		struct proc_hists *ph = hc->procs[i];
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
		for (int k = 0; k < FAULT_KINDS; k++)
			nfaults += ph->faults[k];
		if (nfaults) {
			printf("\n  faults\n");
			for (int k = 0; k < FAULT_KINDS; k++)
				if (ph->faults[k])
					printf("     %-19s : %" PRIu64 "\n", fault_kind_names[k],
					       ph->faults[k]);
		}
		if (hist_opts.by_stack) {
			qsort(ph->by_stack, ph->nstacks, sizeof(*ph->by_stack), by_count);
			for (size_t k = 0; k < ph->nstacks && k < hist_opts.top; k++) {
				printf("\n  alloc_size from:\n");
				report_text_stack(hc->sym, hc->model, ph->p, ph->by_stack[k].stack,
						  hc->cli->stack_depth);
				hist_out_text(stdout, &ph->by_stack[k].size, "bytes");
			}
		}
		printf("\n");
	}
	if (hc->cli->kernel || kmodel_seen(hc->kr.km))
		khists_text(&hc->kh, &hc->kr, stdout);
	printf("lost:");
	for (int k = 0; k < HT_LOST_MAX; k++)
		printf(" %s=%" PRIu64, ht_lost_kind_name(k), model_lost(hc->model)[k]);
	printf("\n");
}

/* ---------------------------------------------------------------- JSON */

static void json_hist_begin(struct json *j, const struct proc_hists *ph, const char *name,
			    const char *unit)
{
	json_object_begin(j);
	json_kv_u64(j, "pid", ph->p->pid);
	json_kv_string(j, "comm", ph->p->comm);
	json_kv_u64(j, "start_ns", ph->p->start_ns);
	json_kv_string(j, "name", name);
	json_kv_string(j, "unit", unit);
}

static void json_hist(struct json *j, const struct proc_hists *ph, const char *name,
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
	for (size_t i = 0; !hc->cli->kernel_only && i < hc->nprocs; i++) {
		struct proc_hists *ph = hc->procs[i];

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
		for (int k = 0; k < FAULT_KINDS; k++) {
			json_object_begin(j);
			json_kv_u64(j, "lo", (uint64_t)k);
			json_kv_u64(j, "hi", (uint64_t)k + 1);
			json_kv_u64(j, "count", ph->faults[k]);
			json_kv_string(j, "label", fault_kind_names[k]);
			json_object_end(j);
		}
		json_array_end(j);
		json_object_end(j);
		if (hist_opts.by_stack) {
			qsort(ph->by_stack, ph->nstacks, sizeof(*ph->by_stack), by_count);
			for (size_t k = 0; k < ph->nstacks && k < hist_opts.top; k++) {
				json_hist_begin(j, ph, "alloc_size", "bytes");
				report_json_frames(j, hc->sym, hc->model, ph->p,
						   ph->by_stack[k].stack, hc->cli->stack_depth);
				hist_out_json(j, &ph->by_stack[k].size);
				json_object_end(j);
			}
		}
	}
	if (kernel)
		khists_json(&hc->kh, &hc->kr, j);
	json_array_end(j);
	if (kernel) {
		json_key(j, "kmem_waste");
		khists_json_waste(&hc->kr, j);
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
	struct model_hooks hooks = { .alloc = on_alloc, .free = on_free, .ctx = &hc };
	struct source *src = NULL;
	int status = EXIT_RUNTIME;

	o.want_alloc = o.want_vm = o.want_fault = !cli->kernel_only;
	o.fault_batching = !cli->fault_stream;
	/* log2 histograms of the syscalls are kept in BPF; linear buckets need every call */
	o.sys_hists = !hist_opts.linear;
	o.capture_stacks = hist_opts.by_stack && !cli->kernel_only;
	hc.model = model_new();
	hc.sym = symbolizer_new();
	khists_init(&hc.kh, hist_opts.linear);
	if (kreport_init(&hc.kr, hc.model, cli->input != NULL) || !hc.model || !hc.sym)
		goto out;
	hc.kr.top = hist_opts.top;
	hc.kr.stack_depth = cli->stack_depth;
	khists_attach(&hc.kh, &hc.kr);
	model_set_hooks(hc.model, &hooks);
	symbolizer_set_offline(hc.sym, cli->input != NULL);
	json_init(&hc.json, stdout);
	if (source_open(&so, on_event, &hc, "tracing; the histograms come at the end", &src) ||
	    source_run(src))
		goto out;
	if (source_tracer(src) && o.sys_hists &&
	    tracer_sys_hists(source_tracer(src), on_sys_hist, &hc)) {
		fprintf(stderr, "heaptrail: cannot read the syscall histograms kept in BPF\n");
		goto out;
	}
	status = EXIT_OK;
	if (cli->json)
		json_report(&hc);
	else
		text_report(&hc);
	fflush(stdout);
out:
	source_close(src);
	for (size_t i = 0; i < hc.nprocs; i++) {
		struct proc_hists *ph = hc.procs[i];

		hist_free(&ph->size);
		hist_free(&ph->lifetime);
		hist_free(&ph->mmap_size);
		for (int s = 0; s < HT_SYS_MAX; s++)
			hist_free(&ph->sys[s]);
		for (size_t k = 0; k < ph->nstacks; k++)
			hist_free(&ph->by_stack[k].size);
		free(ph->by_stack);
		free(ph);
	}
	free(hc.procs);
	khists_free(&hc.kh);
	kreport_fini(&hc.kr);
	symbolizer_free(hc.sym);
	model_free(hc.model);
	return status;
}
