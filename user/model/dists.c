// SPDX-License-Identifier: GPL-2.0-only
/* The distributions model: per-process histograms fed by records and the model's hooks. */
#include <stdlib.h>
#include <math.h>
#include "model/dists.h"
#include "model/proctab.h"
#include "record/event.h"
#include "util/vec.h"

const char *const dists_fault_kind_names[DISTS_FAULT_KINDS] = {
	"read,not-present", "read,present",	"write,not-present",
	"write,present",    "exec,not-present", "exec,present",
};

struct dists {
	struct model *model;
	uint64_t linear;
	bool by_stack;
	struct proctab procs; /* struct dists_proc */
	dists_true_frames_fn true_frames;
	void *true_frames_ctx;
};

void dists_set_true_frames(struct dists *d, dists_true_frames_fn fn, void *ctx)
{
	d->true_frames = fn;
	d->true_frames_ctx = ctx;
}

/* A by_stack entry with what a report shows of its stack. */
struct dists_shown {
	struct dists_stack entry;
	const uint64_t *frames; /* NULL: nothing to show, stays apart */
	uint32_t nframes;
	bool cut;
};

static int dists_by_shown(const void *a, const void *b)
{
	const struct dists_shown *x = a, *y = b;
	int c = 0;

	if (x->frames && y->frames)
		c = model_stack_shown_cmp(x->frames, x->nframes, x->cut, y->frames, y->nframes,
					  y->cut);
	else if (!x->frames != !y->frames)
		c = x->frames ? -1 : 1;
	if (c)
		return c;
	return x->entry.stack < y->entry.stack ? -1 : x->entry.stack > y->entry.stack;
}

/* Merges the by_stack entries whose stacks show the same (dists_set_true_frames). */
static void dists_merge_cut(struct dists *d, struct dists_proc *dp)
{
	struct dists_shown *v = malloc(dp->nstacks * sizeof(*v));
	size_t out = 0;

	if (!v)
		return;
	for (size_t i = 0; i < dp->nstacks; i++) {
		const struct model_stack *st =
			dp->by_stack[i].stack == MODEL_NO_STACK
				? NULL
				: model_stack(d->model, dp->by_stack[i].stack);

		v[i] = (struct dists_shown){ .entry = dp->by_stack[i] };
		if (st && st->frames) {
			v[i].frames = st->frames;
			v[i].nframes = d->true_frames(d->true_frames_ctx, dp->p, st);
			v[i].cut = v[i].nframes < st->nframes || st->walk_cut;
		}
	}
	qsort(v, dp->nstacks, sizeof(*v), dists_by_shown);
	for (size_t i = 0, rep = 0; i < dp->nstacks; i++) {
		if (out && v[i].frames && v[rep].frames &&
		    !model_stack_shown_cmp(v[i].frames, v[i].nframes, v[i].cut, v[rep].frames,
					   v[rep].nframes, v[rep].cut)) {
			hist_merge(&dp->by_stack[out - 1].size, &v[i].entry.size);
			hist_free(&v[i].entry.size);
			continue;
		}
		rep = i;
		dp->by_stack[out++] = v[i].entry;
	}
	dp->nstacks = out;
	free(v);
}

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
	uint64_t count;
	long slot;

	if (!dp)
		return;
	count = model_sample_count(d->model, a);
	hist_add_n(&dp->size, a->size, count);
	if (!d->by_stack)
		return;
	slot = idmap_find(&dp->stack_index, (uint64_t)a->stack + 1);
	if (slot >= 0)
		sh = &dp->by_stack[dp->stack_index.vals[slot]];
	if (!sh) {
		if (!vec_room((void **)&dp->by_stack, dp->nstacks, &dp->stacks_cap,
			      sizeof(*dp->by_stack), 16))
			return;
		if (idmap_put(&dp->stack_index, (uint64_t)a->stack + 1, (uint32_t)dp->nstacks))
			return;
		sh = &dp->by_stack[dp->nstacks++];
		sh->stack = a->stack;
		sh->est_allocs = sh->est_bytes = 0;
		hist_init(&sh->size, d->linear);
	}
	hist_add_n(&sh->size, a->size, count);
	if (p->sampled) {
		double w = model_sample_weight(d->model, a->size);

		sh->est_allocs += w;
		sh->est_bytes += w * (double)a->size;
	}
}

uint64_t dists_stack_allocs(const struct dists_proc *dp, const struct dists_stack *sh)
{
	return dp->p->sampled ? (uint64_t)llround(sh->est_allocs) : sh->size.total;
}

uint64_t dists_stack_bytes(const struct dists_proc *dp, const struct dists_stack *sh)
{
	return dp->p->sampled ? (uint64_t)llround(sh->est_bytes) : sh->size.sum;
}

static void dists_on_free(void *ctx, const struct model_proc *p, const struct model_alloc *a,
			  uint64_t ts_ns)
{
	struct dists_proc *dp = dists_of(ctx, p);

	/* a sampled block's life stands for as many as its allocation did */
	if (dp && ts_ns >= a->ts_ns)
		hist_add_n(&dp->lifetime, ts_ns - a->ts_ns,
			   model_sample_count(((struct dists *)ctx)->model, a));
}

static void dists_proc_fini(void *entry);

static void dists_forget(void *ctx, const struct model_proc *p)
{
	proctab_forget(&((struct dists *)ctx)->procs, p, dists_proc_fini);
}

/* Every stack an entry is kept for, or an index entry leads from (merged ones). */
static void dists_mark(void *ctx, struct model *m)
{
	const struct proctab *t = &((struct dists *)ctx)->procs;

	for (size_t i = 0; i < t->n; i++) {
		const struct dists_proc *e = t->order[i];

		for (size_t k = 0; k < e->nstacks; k++)
			model_stack_keep(m, e->by_stack[k].stack);
		for (size_t k = 0; k < e->stack_index.cap; k++)
			if (e->stack_index.keys[k])
				model_stack_keep(m, (uint32_t)(e->stack_index.keys[k] - 1));
	}
}

static void dists_reindex(void *ctx)
{
	proctab_reindex(&((struct dists *)ctx)->procs);
}

struct dists *dists_new(struct model *m, uint64_t linear, bool by_stack)
{
	struct dists *d = calloc(1, sizeof(*d));
	struct model_hooks hooks = { .alloc = dists_on_alloc,
				     .free = dists_on_free,
				     .forget = dists_forget,
				     .reindex = dists_reindex,
				     .mark = dists_mark };

	if (!d)
		return NULL;
	d->model = m;
	d->linear = linear;
	d->by_stack = by_stack;
	hooks.ctx = d;
	if (model_add_hooks(m, &hooks)) {
		free(d);
		return NULL;
	}
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
	idmap_free(&dp->stack_index);
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

/* An entry as the reports read it: stacks merged past their cut, sorted, indexed again. */
static struct dists_proc *dists_finish(struct dists *d, struct dists_proc *dp)
{
	if (dp->nstacks && d->true_frames)
		dists_merge_cut(d, dp);
	if (dp->nstacks) /* qsort(NULL, 0) is undefined */
		qsort(dp->by_stack, dp->nstacks, sizeof(*dp->by_stack), dists_by_count);
	/* entries moved: the index follows them (out of memory, later ones start apart) */
	idmap_free(&dp->stack_index);
	for (size_t k = 0; k < dp->nstacks; k++)
		idmap_put(&dp->stack_index, (uint64_t)dp->by_stack[k].stack + 1, (uint32_t)k);
	return dp;
}

struct dists_proc *dists_proc(struct dists *d, size_t i)
{
	return dists_finish(d, d->procs.order[i]);
}

const struct dists_proc *dists_proc_peek(const struct dists *d, const struct model_proc *p)
{
	return proctab_find(&d->procs, p);
}

struct dists_proc *dists_proc_find(struct dists *d, const struct model_proc *p)
{
	struct dists_proc *dp = proctab_find(&d->procs, p);

	return dp ? dists_finish(d, dp) : NULL;
}
