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
#include <sys/wait.h>
#include <time.h>
#include "cmd/commands.h"
#include "record/event.h"
#include "output/json.h"
#include "output/kreport_out.h"
#include "report/kreport.h"
#include "model/model.h"
#include "output/stack_out.h"
#include "report/report.h"
#include "source/source.h"
#include "symbols/symbolize.h"
#include "source/live/tracer.h"

struct stack_sum {
	uint32_t stack;
	uint64_t bytes, allocs;
};

/* A process's stacks at the previous --interval report, sorted by stack index. */
struct previous {
	const struct model_proc *proc;
	struct stack_sum *sums;
	size_t n;
};

/* leaks' own options. */
static struct {
	unsigned top; /* stacks per process */
	uint64_t min_age_ns;
	double interval;
	bool floor; /* benchmarks: the probes count their hits, nothing else */
} leaks_opts = { .top = 10 };

enum { LEAKS_OPT_TOP = 1, LEAKS_OPT_MIN_AGE, LEAKS_OPT_INTERVAL, LEAKS_OPT_FLOOR };

static const struct cli_option leaks_options[] = {
	{ "top", 0, "N", "Stacks shown per process, largest first (default 10)", LEAKS_OPT_TOP,
	  false },
	{ "min-age", 0, "MS",
	  "Only allocations at least this old at the end of tracing (default 0)", LEAKS_OPT_MIN_AGE,
	  false },
	{ "interval", 0, "SECONDS",
	  "Also report every SECONDS, with each stack's growth since the previous report",
	  LEAKS_OPT_INTERVAL, true },
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
	}
	return 0;
}

/* The command as the command line knows it: heaptrail --help lists it, cli.c parses for it. */
CLI_COMMAND(leaks, "live allocations at the end, grouped by stack, largest first",
	    "TARGET [--json] [--top N] [--min-age MS] [--interval S] [OPTION...]",
	    CLI_TARGET | CLI_INPUT | CLI_KERNEL | CLI_JSON | CLI_STACKS | CLI_FREE_STACKS);

struct leaks_ctx {
	struct cli *cli;
	struct model *model;
	struct symbolizer *sym;
	struct json json;
	struct previous *prev;
	size_t nprev;
	unsigned reports;
	struct kreport kr; /* -k */
};

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
	kreport_follow(&lc->kr, rec);
}

/*
 * Code of the allocator libraries: libc, libstdc++ (whose exception handling frees what operator
 * new allocated for it) and whatever --lib named.
 */
static bool is_allocator_code(void *ctx, const struct model_proc *p, uint64_t addr)
{
	struct leaks_ctx *lc = ctx;
	const char *path = symbolize_module(lc->sym, p->pid, p->start_ns, addr);
	const char *base;

	if (!path)
		return false;
	for (int i = 0; i < lc->cli->nlibs; i++)
		if (!strcmp(path, lc->cli->libs[i]))
			return true;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return !strncmp(base, "libc.so", 7) || !strncmp(base, "libc-", 5) ||
	       !strncmp(base, "libstdc++.so", 12);
}

static int by_bytes(const void *a, const void *b)
{
	const struct stack_sum *x = a, *y = b;

	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

static int by_stack(const void *a, const void *b)
{
	const struct stack_sum *x = a, *y = b;

	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/*
 * Live allocations of one process older than --min-age at the time of the report (its exit,
 * for an exited process), summed per stack. MODEL_NO_STACK sums those without a stack.
 */
static struct stack_sum *sum_stacks(struct leaks_ctx *lc, const struct model_proc *p, uint64_t now,
				    size_t *n)
{
	uint64_t end = p->exited ? p->exit_ns : now;
	struct stack_sum *sums = NULL;
	size_t count = 0, cap = 0, pos = 0;
	const struct model_alloc *a;
	/* stack index -> position in sums, +1 (0: none yet) */
	size_t nstacks = 0, *where;

	while (model_stack(lc->model, (uint32_t)nstacks))
		nstacks++;
	where = calloc(nstacks + 1, sizeof(*where));
	if (!where)
		return NULL;
	while ((a = model_proc_next_alloc(p, &pos))) {
		size_t key = a->stack < nstacks ? a->stack : nstacks;

		if (end - a->ts_ns < leaks_opts.min_age_ns || a->ts_ns > end)
			continue;
		if (!where[key]) {
			if (count == cap) {
				size_t ncap = cap ? cap * 2 : 16;
				struct stack_sum *ns = realloc(sums, ncap * sizeof(*ns));

				if (!ns)
					break;
				sums = ns;
				cap = ncap;
			}
			sums[count] = (struct stack_sum){ .stack = key == nstacks ? MODEL_NO_STACK
										  : a->stack };
			where[key] = ++count;
		}
		sums[where[key] - 1].bytes += a->size;
		sums[where[key] - 1].allocs++;
	}
	free(where);
	if (count)
		qsort(sums, count, sizeof(*sums), by_bytes);
	*n = count;
	return sums;
}

static struct previous *previous_of(struct leaks_ctx *lc, const struct model_proc *p)
{
	for (size_t i = 0; i < lc->nprev; i++)
		if (lc->prev[i].proc == p)
			return &lc->prev[i];
	return NULL;
}

/* Bytes of this stack at the previous report; 0 when it had none then. */
static uint64_t previous_bytes(const struct previous *prev, uint32_t stack)
{
	struct stack_sum key = { .stack = stack }, *hit;

	if (!prev)
		return 0;
	hit = bsearch(&key, prev->sums, prev->n, sizeof(key), by_stack);
	return hit ? hit->bytes : 0;
}

static void remember(struct leaks_ctx *lc, const struct model_proc *p, struct stack_sum *sums,
		     size_t n)
{
	struct previous *prev = previous_of(lc, p);

	if (!prev) {
		struct previous *np = realloc(lc->prev, (lc->nprev + 1) * sizeof(*np));

		if (!np) {
			free(sums);
			return;
		}
		lc->prev = np;
		prev = &lc->prev[lc->nprev++];
		prev->proc = p;
		prev->sums = NULL;
	}
	free(prev->sums);
	qsort(sums, n, sizeof(*sums), by_stack);
	prev->sums = sums;
	prev->n = n;
}

/* ---------------------------------------------------------------- text */

static void text_status(const struct model_proc *p)
{
	if (!p->exited)
		printf("running");
	else if (p->exit_status < 0)
		printf("exited");
	else if (WIFSIGNALED(p->exit_status))
		printf("killed by SIG%s", sigabbrev_np(WTERMSIG(p->exit_status)) ?: "?");
	else
		printf("exited with %d", WEXITSTATUS(p->exit_status));
}

static void text_report(struct leaks_ctx *lc, uint64_t now, bool interval)
{
	const uint64_t *lost = model_lost(lc->model);

	if (interval)
		printf("heaptrail leaks: report %u\n", lc->reports);
	for (size_t i = 0; !lc->cli->kernel_only && i < model_nprocs(lc->model); i++) {
		const struct model_proc *p = model_proc_at(lc->model, i);
		const struct previous *prev = previous_of(lc, p);
		size_t n = 0, shown;
		struct stack_sum *sums = sum_stacks(lc, p, now, &n);

		printf("pid %u (%s, ", p->pid, p->comm);
		text_status(p);
		printf("): %" PRIu64 " bytes in %zu live allocations", p->live_bytes, p->count);
		printf("; %" PRIu64 " unmatched frees, %" PRIu64 " double frees, %" PRIu64
		       " failed allocations\n",
		       p->unmatched_frees, p->double_frees, p->failed_allocs);
		for (uint64_t d = 0; d < p->double_frees && d < MODEL_DOUBLE_FREES_KEPT; d++) {
			struct sym_frame f[SYMBOLIZE_MAX_INLINED];
			int k = symbolize_resolve(lc->sym, p->pid, p->start_ns,
						  p->double_free[d].caller, f,
						  SYMBOLIZE_MAX_INLINED);

			printf("  double free of 0x%" PRIx64 " by tid %u at:\n",
			       p->double_free[d].addr, p->double_free[d].tid);
			if (p->double_free[d].stack != MODEL_NO_STACK)
				stack_out_text(lc->sym, lc->model, p, p->double_free[d].stack,
					       lc->cli->stack_depth);
			else
				stack_out_text_frame(&f[k - 1], 0);
		}
		shown = n < leaks_opts.top ? n : leaks_opts.top;
		for (size_t k = 0; k < shown; k++) {
			printf("  %" PRIu64 " bytes in %" PRIu64 " allocation%s", sums[k].bytes,
			       sums[k].allocs, sums[k].allocs == 1 ? "" : "s");
			if (interval)
				printf(" (%+" PRId64 " since the last report)",
				       (int64_t)(sums[k].bytes -
						 previous_bytes(prev, sums[k].stack)));
			printf(" from:\n");
			if (sums[k].stack == MODEL_NO_STACK)
				printf("    (stack not captured)\n");
			else
				stack_out_text(lc->sym, lc->model, p, sums[k].stack,
					       lc->cli->stack_depth);
		}
		if (n > shown)
			printf("  ... and %zu more stacks (--top)\n", n - shown);
		if (interval)
			remember(lc, p, sums, n);
		else
			free(sums);
	}
	if (show_kernel(lc))
		kreport_out_leaks_text(&lc->kr, stdout, now);
	printf("lost:");
	for (int k = 0; k < HT_LOST_MAX; k++)
		printf(" %s=%" PRIu64, ht_lost_kind_name(k), lost[k]);
	printf("\n");
	fflush(stdout);
}

/* ---------------------------------------------------------------- JSON */

static void json_report(struct leaks_ctx *lc, uint64_t now, bool interval)
{
	const uint64_t *lost = model_lost(lc->model);
	struct json *j = &lc->json;

	json_object_begin(j);
	json_kv_u64(j, "ts_ns", now);
	if (interval)
		json_kv_u64(j, "report", lc->reports);
	json_key(j, "processes");
	json_array_begin(j);
	for (size_t i = 0; !lc->cli->kernel_only && i < model_nprocs(lc->model); i++) {
		const struct model_proc *p = model_proc_at(lc->model, i);
		const struct previous *prev = previous_of(lc, p);
		size_t n = 0;
		struct stack_sum *sums = sum_stacks(lc, p, now, &n);

		json_object_begin(j);
		json_kv_u64(j, "pid", p->pid);
		json_kv_string(j, "comm", p->comm);
		json_kv_u64(j, "start_ns", p->start_ns);
		json_kv_bool(j, "exited", p->exited);
		if (p->exited && p->exit_status >= 0) {
			if (WIFSIGNALED(p->exit_status))
				json_kv_string(j, "signal",
					       sigabbrev_np(WTERMSIG(p->exit_status)) ?: "?");
			else
				json_kv_s64(j, "exit_code", WEXITSTATUS(p->exit_status));
		}
		if (p->parent)
			json_kv_u64(j, "parent", p->parent);
		json_kv_u64(j, "live_bytes", p->live_bytes);
		json_kv_u64(j, "live_allocs", p->count);
		json_kv_u64(j, "allocs", p->allocs);
		json_kv_u64(j, "frees", p->frees);
		json_kv_u64(j, "failed_allocs", p->failed_allocs);
		json_kv_u64(j, "unmatched_frees", p->unmatched_frees);
		json_kv_u64(j, "double_frees", p->double_frees);
		json_kv_u64(j, "internal_frees", p->internal_frees);
		json_key(j, "double_free");
		json_array_begin(j);
		for (uint64_t d = 0; d < p->double_frees && d < MODEL_DOUBLE_FREES_KEPT; d++) {
			struct sym_frame f[SYMBOLIZE_MAX_INLINED];
			int k = symbolize_resolve(lc->sym, p->pid, p->start_ns,
						  p->double_free[d].caller, f,
						  SYMBOLIZE_MAX_INLINED);

			json_object_begin(j);
			json_kv_addr(j, "addr", p->double_free[d].addr);
			json_kv_u64(j, "tid", p->double_free[d].tid);
			json_kv_u64(j, "ts_ns", p->double_free[d].ts_ns);
			json_key(j, "caller");
			stack_out_json_frame(j, &f[k - 1]);
			if (p->double_free[d].stack != MODEL_NO_STACK)
				stack_out_json(j, lc->sym, lc->model, p, p->double_free[d].stack,
					       lc->cli->stack_depth);
			json_object_end(j);
		}
		json_array_end(j);
		json_key(j, "stacks");
		json_array_begin(j);
		for (size_t k = 0; k < n && k < leaks_opts.top; k++) {
			json_object_begin(j);
			json_kv_u64(j, "bytes", sums[k].bytes);
			json_kv_u64(j, "allocs", sums[k].allocs);
			if (interval)
				json_kv_s64(j, "growth_bytes",
					    (int64_t)(sums[k].bytes -
						      previous_bytes(prev, sums[k].stack)));
			stack_out_json(j, lc->sym, lc->model, p, sums[k].stack,
				       lc->cli->stack_depth);
			json_object_end(j);
		}
		json_array_end(j);
		json_kv_u64(j, "stacks_total", n);
		json_object_end(j);
		if (interval)
			remember(lc, p, sums, n);
		else
			free(sums);
	}
	json_array_end(j);
	if (show_kernel(lc)) {
		json_key(j, "kernel");
		kreport_out_leaks_json(&lc->kr, j, now);
	}
	json_key(j, "lost");
	json_object_begin(j);
	for (int k = 0; k < HT_LOST_MAX; k++)
		json_kv_u64(j, ht_lost_kind_name(k), lost[k]);
	json_object_end(j);
	json_object_end(j);
	json_line_end(j);
	fflush(stdout);
}

static void report(struct leaks_ctx *lc, bool interval)
{
	struct timespec ts;
	uint64_t now;

	/*
	 * Ages are measured to now: the model's clock is CLOCK_MONOTONIC too. A recording ends at
	 * its last record.
	 */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (lc->cli->input || now < model_now(lc->model))
		now = model_now(lc->model);
	lc->reports++;
	if (lc->cli->json)
		json_report(lc, now, interval);
	else
		text_report(lc, now, interval);
}

/* What heaptrail's own memory came to, for the per-allocation budget (and make bench). */
static void print_memory(struct leaks_ctx *lc)
{
	uint64_t live = 0, rss_kib = 0, peak_kib = 0;
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	for (size_t i = 0; i < model_nprocs(lc->model); i++)
		live += model_proc_at(lc->model, i)->count;
	while (f && fgets(line, sizeof(line), f)) {
		sscanf(line, "VmRSS: %" SCNu64, &rss_kib);
		sscanf(line, "VmHWM: %" SCNu64, &peak_kib);
	}
	if (f)
		fclose(f);
	fprintf(stderr,
		"heaptrail: memory: %zu bytes of allocation tables for %" PRIu64
		" live allocations (%.1f bytes each); RSS %" PRIu64 " KiB, peak RSS %" PRIu64
		" KiB\n",
		model_alloc_memory(lc->model), live,
		live ? (double)model_alloc_memory(lc->model) / (double)live : 0.0, rss_kib,
		peak_kib);
}

static void on_tick(void *ctx)
{
	report(ctx, true);
}

int cmd_leaks(struct cli *cli)
{
	struct leaks_ctx lc = { .cli = cli };
	struct tracer_opts o = tracer_opts_of(cli);
	struct source_opts so = { cli->input, cli->duration, true, &o };
	struct source *src = NULL;
	int status = EXIT_RUNTIME;
	char banner[128];

	o.want_alloc = !cli->kernel_only;
	o.capture_stacks = !cli->kernel_only;
	o.kmem_stacks = cli->kernel;
	o.floor_only = leaks_opts.floor;
	lc.model = model_new();
	lc.sym = symbolize_new();
	if (kreport_init(&lc.kr, lc.model, cli->input != NULL) || !lc.model || !lc.sym)
		goto out;
	lc.kr.top = leaks_opts.top;
	lc.kr.stack_depth = cli->stack_depth;
	lc.kr.min_age_ns = leaks_opts.min_age_ns;
	json_init(&lc.json, stdout);
	model_set_internal(lc.model, is_allocator_code, &lc);
	symbolize_set_offline(lc.sym, cli->input != NULL);
	snprintf(banner, sizeof(banner), "tracing %sallocations; the report comes at the end%s",
		 cli->kernel_only ? "kernel " : "",
		 leaks_opts.interval ? " and every --interval" : "");
	if (source_open(&so, on_event, &lc, banner, &src))
		goto out;
	source_set_tick(src, leaks_opts.interval, on_tick);
	if (source_run(src))
		goto out;
	status = EXIT_OK;
	if (leaks_opts.floor) {
		fprintf(stderr, "heaptrail: floor: %" PRIu64 " allocator probe hits\n",
			tracer_floor_hits(source_tracer(src)));
		goto out;
	}
	report(&lc, false);
	print_memory(&lc);
out:
	source_close(src);
	for (size_t i = 0; i < lc.nprev; i++)
		free(lc.prev[i].sums);
	free(lc.prev);
	symbolize_free(lc.sym);
	kreport_fini(&lc.kr);
	model_free(lc.model);
	return status;
}
