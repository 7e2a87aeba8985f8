// SPDX-License-Identifier: GPL-2.0-only
/*
 * Prometheus exposition of the model: per-process families (labelled pid, comm, cgroup) for the
 * largest processes, then heaptrail's own: processes kept, losses, stacks, the kernel's
 * allocators with -k, and its CPU and memory under the names every exporter uses (process_*).
 * The text format and OpenMetrics differ in a counter family's name (OpenMetrics drops _total
 * from it), in # UNIT lines and in the closing # EOF.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "model/vma.h"
#include "output/prom_out.h"
#include "record/event.h"

enum prom_type { PROM_GAUGE, PROM_COUNTER };

/* A metric family: its name without _total, and what a sample of it is. */
struct prom_family {
	const char *name;
	enum prom_type type;
	const char *unit; /* OpenMetrics # UNIT, the name's last word; NULL: none */
	const char *help;
};

struct prom_writer {
	FILE *f;
	bool om; /* OpenMetrics */
	const struct prom_out *o;
	const struct model_proc **procs; /* labelled, largest first */
	size_t nprocs;
};

bool prom_out_wants_openmetrics(const char *accept)
{
	return accept && strstr(accept, "application/openmetrics-text");
}

static void prom_family(struct prom_writer *w, const struct prom_family *fam)
{
	const char *total = fam->type == PROM_COUNTER && !w->om ? "_total" : "";

	fprintf(w->f, "# HELP %s%s %s\n", fam->name, total, fam->help);
	fprintf(w->f, "# TYPE %s%s %s\n", fam->name, total,
		fam->type == PROM_COUNTER ? "counter" : "gauge");
	if (w->om && fam->unit)
		fprintf(w->f, "# UNIT %s %s\n", fam->name, fam->unit);
}

/* A label value: backslash, double quote and newline escaped, as both formats want. */
static void prom_label_value(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

/* The start of a sample: name, and for a process its labels, then extra ones (NULL: none). */
static void prom_sample_start(struct prom_writer *w, const struct prom_family *fam,
			      const struct model_proc *p, const char *extra)
{
	fprintf(w->f, "%s%s", fam->name, fam->type == PROM_COUNTER ? "_total" : "");
	if (!p && !extra)
		return;
	fputc('{', w->f);
	if (p) {
		const char *cg = w->o->cgroup ? w->o->cgroup(w->o->ctx, p) : "";

		fprintf(w->f, "pid=\"%u\",comm=\"", p->pid);
		prom_label_value(w->f, p->comm);
		fputs("\",cgroup=\"", w->f);
		prom_label_value(w->f, cg ? cg : "");
		fputc('"', w->f);
		if (extra)
			fputc(',', w->f);
	}
	if (extra)
		fputs(extra, w->f);
	fputc('}', w->f);
}

static void prom_u64(struct prom_writer *w, const struct prom_family *fam,
		     const struct model_proc *p, const char *extra, uint64_t v)
{
	prom_sample_start(w, fam, p, extra);
	fprintf(w->f, " %" PRIu64 "\n", v);
}

static void prom_double(struct prom_writer *w, const struct prom_family *fam, const char *extra,
			double v)
{
	prom_sample_start(w, fam, NULL, extra);
	fprintf(w->f, " %.17g\n", v);
}

/* ---------------------------------------------------------------- per process */

enum prom_proc_value {
	PROM_LIVE_BYTES,
	PROM_LIVE_ALLOCS,
	PROM_ALLOCS,
	PROM_ALLOC_BYTES,
	PROM_FREES,
	PROM_FAILED,
	PROM_HEAP,
	PROM_MAPPED,
	PROM_PROC_VALUES
};

static const struct prom_family prom_proc_families[PROM_PROC_VALUES] = {
	[PROM_LIVE_BYTES] = { "heaptrail_live_bytes", PROM_GAUGE, "bytes",
			      "Bytes in the process's live heap allocations (malloc and friends)" },
	[PROM_LIVE_ALLOCS] = { "heaptrail_live_allocations", PROM_GAUGE, NULL,
			       "The process's live heap allocations" },
	[PROM_ALLOCS] = { "heaptrail_allocations", PROM_COUNTER, NULL,
			  "Heap allocations made since tracing began (a realloc counts once)" },
	[PROM_ALLOC_BYTES] = { "heaptrail_allocated_bytes", PROM_COUNTER, "bytes",
			       "Bytes asked for by those allocations, freed since or not" },
	[PROM_FREES] = { "heaptrail_frees", PROM_COUNTER, NULL,
			 "Frees of allocations made since tracing began" },
	[PROM_FAILED] = { "heaptrail_failed_allocations", PROM_COUNTER, NULL,
			  "Allocations that returned NULL" },
	[PROM_HEAP] = { "heaptrail_heap_bytes", PROM_GAUGE, "bytes",
			"The brk heap's size (break minus its start)" },
	[PROM_MAPPED] = { "heaptrail_mapped_bytes", PROM_GAUGE, "bytes",
			  "Bytes of the process's address space mapped, as rebuilt from its "
			  "memory syscalls" },
};

static const struct prom_family prom_rss = { "heaptrail_rss_bytes", PROM_GAUGE, "bytes",
					     "Resident memory by member, as the kernel counts "
					     "it (rss_stat): anon, file, shmem, and swap entries" };
static const struct prom_family prom_faults = {
	"heaptrail_page_faults", PROM_COUNTER, NULL,
	"User page faults by the kind of mapping hit (none: no mapping known) and access"
};

static uint64_t prom_proc_value(const struct model_proc *p, const struct space_proc *t, int k)
{
	switch (k) {
	case PROM_LIVE_BYTES:
		return p->live_bytes;
	case PROM_LIVE_ALLOCS:
		return model_proc_live_allocs(p);
	case PROM_ALLOCS:
		return p->allocs;
	case PROM_ALLOC_BYTES:
		return p->alloc_bytes;
	case PROM_FREES:
		return p->frees;
	case PROM_FAILED:
		return p->failed_allocs;
	case PROM_HEAP:
		return t ? t->now[SPACE_HEAP] : 0;
	case PROM_MAPPED:
		return t ? t->now[SPACE_MAPPED] : 0;
	}
	return 0;
}

static void prom_procs(struct prom_writer *w)
{
	static const int rss[] = { SPACE_RSS_ANON, SPACE_RSS_FILE, SPACE_RSS_SHMEM,
				   SPACE_RSS_SWAP };
	static const char *const rss_names[] = { "anon", "file", "shmem", "swap" };
	const struct space *sp = w->o->space;
	char extra[64];

	for (int k = 0; k < PROM_PROC_VALUES; k++) {
		if ((k == PROM_HEAP || k == PROM_MAPPED) && !sp)
			continue;
		prom_family(w, &prom_proc_families[k]);
		for (size_t i = 0; i < w->nprocs; i++) {
			const struct model_proc *p = w->procs[i];

			prom_u64(w, &prom_proc_families[k], p, NULL,
				 prom_proc_value(p, sp ? space_proc_find(sp, p) : NULL, k));
		}
	}
	if (!sp)
		return;
	prom_family(w, &prom_rss);
	for (size_t i = 0; i < w->nprocs; i++) {
		const struct space_proc *t = space_proc_find(sp, w->procs[i]);

		for (int r = 0; r < 4; r++) {
			snprintf(extra, sizeof(extra), "member=\"%s\"", rss_names[r]);
			prom_u64(w, &prom_rss, w->procs[i], extra, t ? t->now[rss[r]] : 0);
		}
	}
	prom_family(w, &prom_faults);
	for (size_t i = 0; i < w->nprocs; i++) {
		const struct space_proc *t = space_proc_find(sp, w->procs[i]);

		for (int kind = 0; kind <= VMA_SPECIAL + 1; kind++)
			for (int write = 0; write < 2; write++) {
				snprintf(extra, sizeof(extra), "mapping=\"%s\",access=\"%s\"",
					 kind <= VMA_SPECIAL ? vma_kind_name(kind) : "none",
					 write ? "write" : "read");
				prom_u64(w, &prom_faults, w->procs[i], extra,
					 t ? t->faults_by_kind[kind][write] : 0);
			}
	}
}

/* ---------------------------------------------------------------- heaptrail's own */

static void prom_kernel(struct prom_writer *w)
{
	static const struct prom_family fams[] = {
		{ "heaptrail_kernel_live_bytes", PROM_GAUGE, "bytes",
		  "Bytes in live kernel allocations made since tracing began, per allocator" },
		{ "heaptrail_kernel_live_allocations", PROM_GAUGE, NULL,
		  "Live kernel allocations made since tracing began, per allocator" },
		{ "heaptrail_kernel_allocations", PROM_COUNTER, NULL,
		  "Kernel allocations, per allocator" },
		{ "heaptrail_kernel_frees", PROM_COUNTER, NULL, "Kernel frees, per allocator" },
	};
	char extra[64];

	for (size_t k = 0; k < sizeof(fams) / sizeof(fams[0]); k++) {
		prom_family(w, &fams[k]);
		for (unsigned kind = 0; kind < HT_KA_MAX; kind++) {
			const struct kmodel_counts *c = kmodel_kind_counts(w->o->kr->km, kind);
			uint64_t v[] = { c->live_bytes, c->live_allocs, c->allocs, c->frees };

			snprintf(extra, sizeof(extra), "allocator=\"%s\"", ht_kalloc_name(kind));
			prom_u64(w, &fams[k], NULL, extra, v[k]);
		}
	}
}

static void prom_self(struct prom_writer *w, size_t live, size_t exited)
{
	static const struct prom_family procs = {
		"heaptrail_processes", PROM_GAUGE, NULL,
		"Processes kept: live, and exited ones until --retain has passed"
	};
	static const struct prom_family unlabelled = {
		"heaptrail_processes_unlabelled", PROM_GAUGE, NULL,
		"Processes kept but left out of the per-process metrics (--top-processes)"
	};
	static const struct prom_family forgotten = {
		"heaptrail_processes_forgotten", PROM_COUNTER, NULL,
		"Exited processes dropped once --retain had passed"
	};
	static const struct prom_family lost = {
		"heaptrail_lost", PROM_COUNTER, NULL,
		"Events heaptrail could not follow, by kind (see the README's Losses)"
	};
	static const struct prom_family stacks = { "heaptrail_stacks", PROM_GAUGE, NULL,
						   "Distinct stacks kept" };
	static const struct prom_family dropped = {
		"heaptrail_stacks_dropped", PROM_COUNTER, NULL,
		"Stacks dropped once nothing kept referred to them (sent again if used again)"
	};
	static const struct prom_family sample = {
		"heaptrail_sample_bytes", PROM_GAUGE, "bytes",
		"--sample-bytes: mean bytes between sampled allocations (0: every one followed)"
	};
	static const struct prom_family cpu = { "process_cpu_seconds", PROM_COUNTER, "seconds",
						"heaptrail's own CPU time, user and system" };
	static const struct prom_family rss = { "process_resident_memory_bytes", PROM_GAUGE,
						"bytes", "heaptrail's own resident memory" };
	static const struct prom_family heap = {
		"heaptrail_self_heap_bytes", PROM_GAUGE, "bytes",
		"heaptrail's own heap: what its allocator has handed out (the rest of its RSS is "
		"code, BPF maps and the allocator's free pages)"
	};
	static const struct prom_family tables = { "heaptrail_self_table_bytes", PROM_GAUGE,
						   "bytes",
						   "Of that heap, the model's tables: live "
						   "allocations, processes kept, stacks, symbols" };
	static const struct prom_family start = { "process_start_time_seconds", PROM_GAUGE,
						  "seconds",
						  "When heaptrail started, since the Unix epoch" };
	const uint64_t *l = model_lost(w->o->model);
	struct model_mem mm;
	char extra[64];

	prom_family(w, &procs);
	prom_u64(w, &procs, NULL, "state=\"live\"", live);
	prom_u64(w, &procs, NULL, "state=\"exited\"", exited);
	prom_family(w, &unlabelled);
	prom_u64(w, &unlabelled, NULL, NULL, live + exited - w->nprocs);
	prom_family(w, &forgotten);
	prom_u64(w, &forgotten, NULL, NULL, w->o->forgotten);
	prom_family(w, &lost);
	for (unsigned k = 0; k < HT_LOST_MAX; k++) {
		snprintf(extra, sizeof(extra), "kind=\"%s\"", ht_lost_kind_name(k));
		prom_u64(w, &lost, NULL, extra, l[k]);
	}
	model_memory(w->o->model, &mm);
	prom_family(w, &stacks);
	prom_u64(w, &stacks, NULL, NULL, mm.stacks);
	prom_family(w, &dropped);
	prom_u64(w, &dropped, NULL, NULL, model_stacks_dropped(w->o->model));
	prom_family(w, &sample);
	prom_u64(w, &sample, NULL, NULL, model_sample_bytes(w->o->model));
	if (w->o->kr && w->o->kr->km)
		prom_kernel(w);
	prom_family(w, &cpu);
	prom_double(w, &cpu, NULL, w->o->cpu_seconds);
	prom_family(w, &rss);
	prom_u64(w, &rss, NULL, NULL, w->o->rss_bytes);
	prom_family(w, &heap);
	prom_u64(w, &heap, NULL, NULL, w->o->heap_bytes);
	prom_family(w, &tables);
	prom_u64(w, &tables, NULL, "table=\"allocations\"", mm.alloc_bytes);
	prom_u64(w, &tables, NULL, "table=\"processes\"", mm.procs_bytes);
	prom_u64(w, &tables, NULL, "table=\"stacks\"", mm.stacks_bytes);
	prom_u64(w, &tables, NULL, "table=\"symbols\"", w->o->symbols_bytes);
	prom_family(w, &start);
	prom_double(w, &start, NULL, w->o->start_time_seconds);
}

/* Largest live bytes first; ties by pid, so that a scrape's set is stable. */
static int prom_by_live(const void *a, const void *b)
{
	const struct model_proc *x = *(const struct model_proc *const *)a;
	const struct model_proc *y = *(const struct model_proc *const *)b;

	if (x->live_bytes != y->live_bytes)
		return x->live_bytes > y->live_bytes ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

int prom_out_write(FILE *f, const struct prom_out *o, bool openmetrics)
{
	size_t n = model_nprocs(o->model), live = 0;
	struct prom_writer w = { .f = f, .om = openmetrics, .o = o };

	w.procs = malloc((n ? n : 1) * sizeof(*w.procs));
	if (!w.procs)
		return -1;
	for (size_t i = 0; i < n; i++) {
		w.procs[i] = model_proc_at(o->model, i);
		live += !w.procs[i]->exited;
	}
	qsort(w.procs, n, sizeof(*w.procs), prom_by_live);
	w.nprocs = o->top && o->top < n ? o->top : n;
	prom_procs(&w);
	prom_self(&w, live, n - live);
	if (openmetrics)
		fputs("# EOF\n", f);
	free(w.procs);
	return ferror(f) ? -1 : 0;
}
