// SPDX-License-Identifier: GPL-2.0-only
/* The distributions model: per-process histograms fed by records and the model's hooks. */
#include <stdlib.h>
#include "model/dists.h"
#include "model/proctab.h"
#include "record/event.h"

const char *const dists_fault_kind_names[DISTS_FAULT_KINDS] = {
	"read,not-present", "read,present",	"write,not-present",
	"write,present",    "exec,not-present", "exec,present",
};

struct dists {
	struct model *model;
	uint64_t linear;
	bool by_stack;
	struct proctab procs; /* struct dists_proc */
};

static struct dists_proc *dists_of(struct dists *d, const struct model_proc *p)
{
	bool fresh;
	struct dists_proc *dp = proctab_get(&d->procs, p, sizeof(*dp), &fresh);

	if (fresh) {
		dp->p = p;
		hist_init(&dp->size, d->linear);
		hist_init(&dp->lifetime, d->linear);
		hist_init(&dp->mmap_size, d->linear);
		for (int s = 0; s < HT_SYS_MAX; s++)
			hist_init(&dp->sys[s], d->linear);
	}
	return dp;
}

static void dists_on_alloc(void *ctx, const struct model_proc *p, const struct model_alloc *a)
{
	struct dists *d = ctx;
	struct dists_proc *dp = dists_of(d, p);
	struct dists_stack *sh = NULL;

	if (!dp)
		return;
	hist_add(&dp->size, a->size);
	if (!d->by_stack)
		return;
	for (size_t i = 0; i < dp->nstacks && !sh; i++)
		if (dp->by_stack[i].stack == a->stack)
			sh = &dp->by_stack[i];
	if (!sh) {
		struct dists_stack *n = realloc(dp->by_stack, (dp->nstacks + 1) * sizeof(*n));

		if (!n)
			return;
		dp->by_stack = n;
		sh = &dp->by_stack[dp->nstacks++];
		sh->stack = a->stack;
		hist_init(&sh->size, d->linear);
	}
	hist_add(&sh->size, a->size);
}

static void dists_on_free(void *ctx, const struct model_proc *p, const struct model_alloc *a,
			  uint64_t ts_ns)
{
	struct dists_proc *dp = dists_of(ctx, p);

	if (dp && ts_ns >= a->ts_ns)
		hist_add(&dp->lifetime, ts_ns - a->ts_ns);
}

struct dists *dists_new(struct model *m, uint64_t linear, bool by_stack)
{
	struct dists *d = calloc(1, sizeof(*d));
	struct model_hooks hooks = { .alloc = dists_on_alloc, .free = dists_on_free };

	if (!d)
		return NULL;
	d->model = m;
	d->linear = linear;
	d->by_stack = by_stack;
	hooks.ctx = d;
	model_set_hooks(m, &hooks);
	return d;
}

static void dists_proc_fini(void *entry)
{
	struct dists_proc *dp = entry;

	hist_free(&dp->size);
	hist_free(&dp->lifetime);
	hist_free(&dp->mmap_size);
	for (int s = 0; s < HT_SYS_MAX; s++)
		hist_free(&dp->sys[s]);
	for (size_t k = 0; k < dp->nstacks; k++)
		hist_free(&dp->by_stack[k].size);
	free(dp->by_stack);
}

void dists_free(struct dists *d)
{
	if (!d)
		return;
	proctab_free(&d->procs, dists_proc_fini);
	free(d);
}

/* The latest process of that pid, exited or not: BPF keys its histograms by pid. */
static const struct model_proc *dists_latest(const struct model *m, uint32_t pid)
{
	for (size_t i = model_nprocs(m); i-- > 0;)
		if (model_proc_at(m, i)->pid == pid)
			return model_proc_at(m, i);
	return NULL;
}

static void dists_sys_hist(struct dists *d, const struct ht_sys_hist_rec *r)
{
	struct dists_proc *dp = dists_of(d, dists_latest(d->model, r->hdr.pid));

	if (!dp || r->key.sys == 0 || r->key.sys >= HT_SYS_MAX)
		return;
	hist_merge_log2(r->key.what == HT_SYS_HIST_MMAP_LEN ? &dp->mmap_size : &dp->sys[r->key.sys],
			(const uint64_t *)r->hist.counts, HT_HIST_BUCKETS, r->hist.total,
			r->hist.sum, r->hist.min, r->hist.max);
}

void dists_apply(struct dists *d, const struct ht_hdr *rec)
{
	struct dists_proc *dp;
	int err;

	switch (rec->type) {
	case HT_REC_SYSCALL: {
		const struct ht_syscall *s = (const void *)rec;

		dp = dists_of(d, model_proc_live(d->model, rec->pid));
		if (!dp)
			break;
		hist_add(&dp->sys[s->sys], s->lat_ns);
		if (s->sys == HT_SYS_MMAP && !ht_syscall_failed(s, &err))
			hist_add(&dp->mmap_size, s->args[1]);
		break;
	}
	case HT_REC_FAULT: {
		const struct ht_fault *f = (const void *)rec;
		int kind = (f->error_code & HT_PF_INSTR)   ? 4
			   : (f->error_code & HT_PF_WRITE) ? 2
							   : 0;

		dp = dists_of(d, model_proc_live(d->model, rec->pid));
		if (dp)
			dp->faults[kind + !!(f->error_code & HT_PF_PROT)]++;
		break;
	}
	case HT_REC_SYS_HIST:
		dists_sys_hist(d, (const struct ht_sys_hist_rec *)rec);
		break;
	}
}

size_t dists_nprocs(const struct dists *d)
{
	return d->procs.n;
}

static int dists_by_count(const void *a, const void *b)
{
	const struct dists_stack *x = a, *y = b;

	return x->size.total < y->size.total ? 1 : x->size.total > y->size.total ? -1 : 0;
}

struct dists_proc *dists_proc(struct dists *d, size_t i)
{
	struct dists_proc *dp = d->procs.order[i];

	if (dp->nstacks) /* qsort(NULL, 0) is undefined */
		qsort(dp->by_stack, dp->nstacks, sizeof(*dp->by_stack), dists_by_count);
	return dp;
}
