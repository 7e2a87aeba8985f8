// SPDX-License-Identifier: GPL-2.0-only
/*
 * The timeline report: its JSON (series, faults by kind, the final VMAs), its text summary, and
 * the files of its other forms (Perfetto, CSV, SVG: output/timeline_out.c draws them).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "output/space_out.h"
#include "output/timeline_out.h"
#include "record/event.h"

void space_out_json(const struct space *s, const struct model *m, struct json *j)
{

	json_object_begin(j);
	/* sampled mode: the live series are the exact totals, a point each time they were read */
	json_kv_u64(j, "sample_bytes", model_sample_bytes(m));
	json_key(j, "processes");
	json_array_begin(j);
	for (size_t i = 0; i < space_nprocs(s); i++) {
		const struct space_proc *t = space_proc(s, i);

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
			const struct vma *vm = &t->vmas.v[v];

			json_object_begin(j);
			json_kv_addr(j, "start", vm->start);
			json_kv_addr(j, "end", vm->end);
			json_kv_string(j, "perms", vm->perms);
			json_kv_string(j, "kind", vma_kind_name(vm->kind));
			json_key(j, "path");
			if (vm->path)
				json_string(j, vm->path);
			else
				json_null(j);
			if (vm->locked)
				json_kv_bool(j, "locked", true);
			if (vm->by_allocator)
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
		json_kv_u64(j, ht_lost_kind_name(k), model_lost(m)[k]);
	json_object_end(j);
	json_object_end(j);
	json_line_end(j);
}

void space_out_text(const struct space *s)
{
	for (size_t i = 0; i < space_nprocs(s); i++) {
		const struct space_proc *t = space_proc(s, i);

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
int space_out_files(const struct space *s, struct out_file *perfetto, struct out_file *csv,
		    struct out_file *svg)
{
	size_t nprocs = space_nprocs(s);
	struct tl_process *procs = calloc(nprocs + 1, sizeof(*procs));
	struct tl_series *series = calloc(nprocs * SPACE_SERIES_MAX + 1, sizeof(*series));
	const struct {
		struct out_file *file;
		void (*write)(FILE *, const struct tl_process *, size_t);
	} outs[] = { { perfetto, timeline_out_perfetto },
		     { csv, timeline_out_csv },
		     { svg, timeline_out_svg } };
	int err = 0;

	if (!procs || !series) {
		free(procs);
		free(series);
		return -1;
	}
	for (size_t i = 0; i < space_nprocs(s); i++) {
		const struct space_proc *t = space_proc(s, i);

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
		struct out_file *out = outs[o].file;

		if (!out->f)
			continue;
		outs[o].write(out->f, procs, nprocs);
		if (outfile_close(out))
			err = -1;
	}
	free(series);
	free(procs);
	return err;
}
