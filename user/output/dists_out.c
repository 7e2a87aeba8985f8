// SPDX-License-Identifier: GPL-2.0-only
/*
 * hist's report as text (bcc-style bars) and as JSON: per process its distributions, per call
 * site with --by-stack, then the kernel's (-k) and the losses.
 */
#include <inttypes.h>
#include <string.h>
#include <stdio.h>
#include "output/dists_out.h"
#include "output/hist_out.h"
#include "output/kreport_out.h"
#include "output/stack_out.h"
#include "record/event.h"

static void dists_out_text_hist(const char *title, const char *unit, const struct hist *h)
{
	if (!h->total)
		return;
	printf("\n  %s\n", title);
	hist_out_text(stdout, h, unit);
}

void dists_out_text(const struct dists_out *o)
{
	for (size_t i = 0; !o->kernel_only && i < dists_nprocs(o->dists); i++) {
		const struct dists_proc *ph = dists_proc(o->dists, i);
		uint64_t nfaults = 0;

		printf("pid %u (%s)%s\n", ph->p->pid, ph->p->comm, ph->p->exited ? ", exited" : "");
		if (ph->p->sampled)
			printf("  sampled, one allocation per %" PRIu64 " bytes on average: the "
			       "allocation histograms are estimates\n",
			       model_sample_bytes(o->model));
		dists_out_text_hist("alloc_size", "bytes", &ph->size);
		dists_out_text_hist("alloc_lifetime", "ns", &ph->lifetime);
		for (int s = 1; s < HT_SYS_MAX; s++) {
			char title[64];

			snprintf(title, sizeof(title), "syscall_latency %s",
				 ht_sys_name((unsigned)s));
			dists_out_text_hist(title, "ns", &ph->sys[s]);
		}
		dists_out_text_hist("mmap_size", "bytes", &ph->mmap_size);
		for (int k = 0; k < DISTS_FAULT_KINDS; k++)
			nfaults += ph->faults[k];
		if (nfaults) {
			printf("\n  faults\n");
			for (int k = 0; k < DISTS_FAULT_KINDS; k++)
				if (ph->faults[k])
					printf("     %-19s : %" PRIu64 "\n",
					       dists_fault_kind_names[k], ph->faults[k]);
		}
		if (o->by_stack) {
			for (size_t k = 0; k < ph->nstacks && k < o->top; k++) {
				printf("\n  alloc_size from:\n");
				stack_out_text(o->sym, o->model, ph->p, ph->by_stack[k].stack,
					       o->stack_depth);
				hist_out_text(stdout, &ph->by_stack[k].size, "bytes");
			}
		}
		printf("\n");
	}
	if (o->kernel)
		kreport_out_hists_text(o->kh, o->kr, stdout);
	printf("lost:");
	for (int k = 0; k < HT_LOST_MAX; k++)
		printf(" %s=%" PRIu64, ht_lost_kind_name(k), model_lost(o->model)[k]);
	printf("\n");
}

static void dists_out_json_begin(struct json *j, const struct dists_proc *ph, const char *name,
				 const char *unit)
{
	json_object_begin(j);
	json_kv_u64(j, "pid", ph->p->pid);
	json_kv_string(j, "comm", ph->p->comm);
	json_kv_u64(j, "start_ns", ph->p->start_ns);
	json_kv_string(j, "name", name);
	json_kv_string(j, "unit", unit);
	/* sampled mode: the allocations' histograms are estimates (each sampled one weighed) */
	json_kv_bool(j, "estimated", ph->p->sampled && !strncmp(name, "alloc_", 6));
}

static void dists_out_json_hist(struct json *j, const struct dists_proc *ph, const char *name,
				const char *unit, const struct hist *h)
{
	dists_out_json_begin(j, ph, name, unit);
	hist_out_json(j, h);
	json_object_end(j);
}

void dists_out_json(const struct dists_out *o, struct json *j)
{
	bool kernel = o->kernel;

	json_object_begin(j);
	json_key(j, "histograms");
	json_array_begin(j);
	for (size_t i = 0; !o->kernel_only && i < dists_nprocs(o->dists); i++) {
		const struct dists_proc *ph = dists_proc(o->dists, i);

		dists_out_json_hist(j, ph, "alloc_size", "bytes", &ph->size);
		dists_out_json_hist(j, ph, "alloc_lifetime", "ns", &ph->lifetime);
		for (int s = 1; s < HT_SYS_MAX; s++) {
			if (!ph->sys[s].total)
				continue;
			dists_out_json_begin(j, ph, "syscall_latency", "ns");
			json_kv_string(j, "syscall", ht_sys_name((unsigned)s));
			hist_out_json(j, &ph->sys[s]);
			json_object_end(j);
		}
		dists_out_json_hist(j, ph, "mmap_size", "bytes", &ph->mmap_size);
		dists_out_json_begin(j, ph, "faults", "kind");
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
		if (o->by_stack) {
			for (size_t k = 0; k < ph->nstacks && k < o->top; k++) {
				dists_out_json_begin(j, ph, "alloc_size", "bytes");
				stack_out_json(j, o->sym, o->model, ph->p, ph->by_stack[k].stack,
					       o->stack_depth);
				hist_out_json(j, &ph->by_stack[k].size);
				json_object_end(j);
			}
		}
	}
	if (kernel)
		kreport_out_hists_json(o->kh, o->kr, j);
	json_array_end(j);
	if (kernel) {
		json_key(j, "kmem_waste");
		kreport_out_waste_json(o->kr, j);
	}
	json_key(j, "lost");
	json_object_begin(j);
	for (int k = 0; k < HT_LOST_MAX; k++)
		json_kv_u64(j, ht_lost_kind_name(k), model_lost(o->model)[k]);
	json_object_end(j);
	json_object_end(j);
	json_line_end(j);
}
