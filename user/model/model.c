// SPDX-License-Identifier: GPL-2.0-only
/*
 * The per-process model: allocator records become live-allocation tables, fork copies them,
 * exec empties them, exit retires the process (kept for its report). Tables are open-addressed
 * with linear probing and backward-shift deletion (no tombstones), kept between 1/2 and 3/4
 * full (grown by 3/2, shrunk to 5/8), so that a live allocation costs 43 to 64 bytes.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "model/kmodel.h"
#include "model/model.h"
#include "util/idmap.h"
#include "util/vec.h"

#define FREED_CACHE 4096 /* recently freed addresses remembered per process (32 KiB) */
#define MIN_CAP	    16

struct model {
	struct model_proc **procs;
	size_t nprocs, procs_cap;
	struct idmap live;	 /* pid -> index in procs, live processes only */
	struct model_proc *last; /* the last process looked up: records come in runs of one pid */

	struct model_stack *stacks;
	size_t nstacks, stacks_cap;
	struct idmap stack_ids;
	uint32_t *stacks_free; /* indexes of dropped stacks, for new ones */
	size_t nfree, free_cap;
	uint8_t *stack_marks; /* model_stacks_unused: STACK_KEPT, STACK_CANDIDATE */
	size_t marks_len;
	uint64_t stacks_dropped;

	uint64_t lost[HT_LOST_MAX];
	uint64_t now;
	uint64_t exit_age_ns;  /* model_set_exit_age */
	uint64_t sample_bytes; /* sampled mode: N, from the sampling record */
	bool (*internal)(void *ctx, const struct model_proc *p, uint64_t addr);
	void *internal_ctx;
	struct kmodel *kernel; /* model_track_kernel; NULL: kernel records are not kept */
	bool (*in_interrupt)(void *ctx, uint64_t stack_id);
	void *in_interrupt_ctx;
	struct model_hooks hooks[MODEL_MAX_HOOKS];
	int nhooks;
};

/* ---------------------------------------------------------------- allocation tables */

static long alloc_find(const struct model_proc *p, uint64_t addr)
{
	if (!p->cap)
		return -1;
	for (size_t i = idmap_bucket(addr, p->cap);; i = idmap_next(i, p->cap)) {
		if (p->slots[i].addr == addr)
			return (long)i;
		if (!p->slots[i].addr)
			return -1;
	}
}

static void alloc_place(struct model_alloc *slots, size_t cap, const struct model_alloc *a)
{
	size_t i;

	for (i = idmap_bucket(a->addr, cap); slots[i].addr; i = idmap_next(i, cap))
		;
	slots[i] = *a;
}

static int alloc_resize(struct model_proc *p, size_t cap)
{
	struct model_alloc *slots;

	if (cap < MIN_CAP)
		cap = MIN_CAP;
	slots = calloc(cap, sizeof(*slots));
	if (!slots)
		return -1;
	for (size_t i = 0; i < p->cap; i++)
		if (p->slots[i].addr)
			alloc_place(slots, cap, &p->slots[i]);
	free(p->slots);
	p->slots = slots;
	p->cap = cap;
	return 0;
}

static void alloc_remove_at(struct model_proc *p, size_t hole)
{
	if (!p->sampled)
		p->live_bytes -= p->slots[hole].size;
	p->count--;
	for (size_t i = idmap_next(hole, p->cap); p->slots[i].addr; i = idmap_next(i, p->cap)) {
		size_t home = idmap_bucket(p->slots[i].addr, p->cap);

		if (hole <= i ? (home <= hole || home > i) : (home <= hole && home > i)) {
			p->slots[hole] = p->slots[i];
			hole = i;
		}
	}
	p->slots[hole].addr = 0;
	/*
	 * Frees give memory back: under 1/2 full, shrink to 5/8 full. Growing lands at 1/2, so an
	 * O(n) resize is always at least n/8 operations away from the previous one but one.
	 */
	if (p->cap > 4 * MIN_CAP && p->count * 2 < p->cap)
		alloc_resize(p, p->count * 8 / 5);
}

static void alloc_insert(struct model_proc *p, const struct model_alloc *a)
{
	long i = alloc_find(p, a->addr);

	if (i >= 0) {
		/* Handed out again without a free we saw: the free was lost. Replace. */
		if (!p->sampled)
			p->live_bytes += a->size - p->slots[i].size;
		p->slots[i] = *a;
		return;
	}
	if ((p->count + 1) * 4 > p->cap * 3 && alloc_resize(p, p->cap + p->cap / 2))
		return;
	alloc_place(p->slots, p->cap, a);
	p->count++;
	if (!p->sampled)
		p->live_bytes += a->size;
}

/* ---------------------------------------------------------------- processes */

static void proc_destroy(struct model_proc *p)
{
	free(p->double_free);
	free(p->slots);
	free(p->freed);
	free(p->sums);
	free(p);
}

/*
 * An exited process's live allocations are what leaked at its exit, reported per stack: they
 * become one sum per stack (two where some are younger than the exit age), and the slots go.
 * What an exited process costs is then its leaking stacks, not its allocations (leaks -a beside
 * compile loops: 702,000 allocations left by 942 processes took 38 MB of slots).
 */
/* Younger than the exit age at p's exit: left out of leaks --min-age (model_set_exit_age). */
static bool proc_young_at_exit(const struct model *m, const struct model_proc *p, uint64_t ts)
{
	return ts > p->exit_ns || p->exit_ns - ts < m->exit_age_ns;
}

/*
 * Sampled mode: the sums are estimates, each allocation weighed by model_sample_weight and the
 * sum rounded once (est: per sum, its bytes and count so far).
 */
static void proc_compact(struct model *m, struct model_proc *p)
{
	size_t hcap = 16, n = 0;
	uint32_t *index; /* (stack, young) -> position in sums + 1, open addressing */
	struct model_alloc_sum *sums;
	double(*est)[2] = NULL;

	if (!p->count)
		goto out;
	while (hcap < p->count * 2)
		hcap *= 2;
	index = calloc(hcap, sizeof(*index));
	sums = malloc(p->count * sizeof(*sums));
	if (p->sampled)
		est = calloc(p->count, sizeof(*est));
	if (!index || !sums || (p->sampled && !est)) {
		free(index);
		free(sums);
		free(est);
		return; /* keeps the slots: the report is the same */
	}
	for (size_t i = 0; i < p->cap; i++) {
		const struct model_alloc *a = &p->slots[i];
		bool young = proc_young_at_exit(m, p, a->ts_ns);
		uint64_t key = (uint64_t)a->stack * 2 + young;
		size_t h;

		if (!a->addr)
			continue;
		for (h = idmap_bucket(key, hcap); index[h]; h = idmap_next(h, hcap)) {
			struct model_alloc_sum *s = &sums[index[h] - 1];

			if (s->stack == a->stack && proc_young_at_exit(m, p, s->ts_ns) == young)
				break;
		}
		if (!index[h]) {
			sums[n] = (struct model_alloc_sum){ .stack = a->stack, .ts_ns = a->ts_ns };
			index[h] = (uint32_t)++n;
		}
		sums[index[h] - 1].count++;
		sums[index[h] - 1].bytes += a->size;
		if (est) {
			double w = model_sample_weight(m, a->size);

			est[index[h] - 1][0] += w * (double)a->size;
			est[index[h] - 1][1] += w;
		}
		/* the oldest stands for the old ones, the newest for the young ones */
		if (young ? a->ts_ns > sums[index[h] - 1].ts_ns
			  : a->ts_ns < sums[index[h] - 1].ts_ns)
			sums[index[h] - 1].ts_ns = a->ts_ns;
	}
	free(index);
	for (size_t k = 0; est && k < n; k++) {
		sums[k].bytes = (uint64_t)llround(est[k][0]);
		sums[k].count = est[k][1] < UINT32_MAX ? (uint32_t)lround(est[k][1]) : UINT32_MAX;
	}
	free(est);
	if (n) {
		struct model_alloc_sum *fit = realloc(sums, n * sizeof(*sums));

		p->sums = fit ? fit : sums;
	} else {
		free(sums); /* realloc to 0 would free it and answer NULL */
	}
	p->nsums = n;
out:
	free(p->slots);
	p->slots = NULL;
	p->cap = 0;
}

/* Drops what only a live process needs. */
static void proc_retire(struct model *m, struct model_proc *p, uint64_t ts, int status)
{
	p->exited = true;
	p->exit_ns = ts;
	p->exit_status = status;
	free(p->freed);
	p->freed = NULL;
	idmap_del(&m->live, p->pid);
	proc_compact(m, p);
	for (int h = 0; h < m->nhooks; h++)
		if (m->hooks[h].exit)
			m->hooks[h].exit(m->hooks[h].ctx, p);
}

static struct model_proc *proc_new(struct model *m, uint32_t pid, uint64_t ts)
{
	struct model_proc *p;
	long old = idmap_find(&m->live, pid);

	/* The pid was reused: the previous process exited without our seeing it. */
	if (old >= 0)
		proc_retire(m, m->procs[m->live.vals[old]], ts, -1);
	if (!vec_room((void **)&m->procs, m->nprocs, &m->procs_cap, sizeof(*m->procs), 16))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->pid = pid;
	p->start_ns = ts;
	p->index = (uint32_t)m->nprocs;
	if (idmap_put(&m->live, pid, (uint32_t)m->nprocs)) {
		free(p);
		return NULL;
	}
	m->procs[m->nprocs++] = p;
	return p;
}

static struct model_proc *proc_get(struct model *m, uint32_t pid, uint64_t ts)
{
	long i;

	/* a retired process (exit, pid reuse, exec) is never returned from here */
	if (m->last && m->last->pid == pid && !m->last->exited)
		return m->last;
	i = idmap_find(&m->live, pid);
	m->last = i >= 0 ? m->procs[m->live.vals[i]] : proc_new(m, pid, ts);
	return m->last;
}

static void set_comm(struct model_proc *p, const char *comm)
{
	memcpy(p->comm, comm, sizeof(p->comm));
	p->comm[sizeof(p->comm) - 1] = '\0';
}

/* ---------------------------------------------------------------- stacks */

/* stack_marks: referred to (or not a stack); named by model_stacks_unused, not yet dropped */
#define STACK_KEPT	1
#define STACK_CANDIDATE 2

/*
 * The table index of a stack id. An id whose frames have not arrived (their record was lost to
 * a full ring buffer; a later allocation sends them again) gets an empty entry now, filled when
 * they come, so that allocations made meanwhile still group under it.
 */
static uint32_t stack_index(struct model *m, uint64_t id)
{
	long i;

	if (!id)
		return MODEL_NO_STACK;
	i = idmap_find(&m->stack_ids, id);
	if (i >= 0)
		return m->stack_ids.vals[i];
	if (m->nfree) {
		uint32_t k = m->stacks_free[m->nfree - 1];

		if (idmap_put(&m->stack_ids, id, k))
			return MODEL_NO_STACK;
		m->nfree--;
		m->stacks[k] = (struct model_stack){ .id = id };
		if (k < m->marks_len)
			m->stack_marks[k] = 0;
		return k;
	}
	if (!vec_room((void **)&m->stacks, m->nstacks, &m->stacks_cap, sizeof(*m->stacks), 64))
		return MODEL_NO_STACK;
	if (idmap_put(&m->stack_ids, id, (uint32_t)m->nstacks))
		return MODEL_NO_STACK;
	m->stacks[m->nstacks] = (struct model_stack){ .id = id };
	return (uint32_t)m->nstacks++;
}

static void stack_add(struct model *m, const struct ht_stack *s)
{
	uint32_t i = stack_index(m, s->stack_id);
	uint64_t *frames;

	if (i == MODEL_NO_STACK)
		return; /* no memory */
	if (m->stacks[i].frames) {
		/*
		 * Sent again: after an LRU eviction, or BPF was told to forget it (a candidate of
		 * model_stacks_unused) and it came back before the drop. BPF remembers it as sent
		 * now, so it must stay, even if the allocation that sent it is freed before the drop.
		 */
		if (i < m->marks_len)
			m->stack_marks[i] &= (uint8_t)~STACK_CANDIDATE;
		return;
	}
	frames = malloc(s->nframes * sizeof(*frames) + 1);
	if (!frames)
		return;
	memcpy(frames, s->frames, s->nframes * sizeof(*frames));
	m->stacks[i].frames = frames;
	m->stacks[i].nframes = s->nframes;
	m->stacks[i].walk_cut = s->hdr.flags & HT_F_STACK_CUT;
}

/* ---------------------------------------------------------------- allocator semantics */

static inline size_t freed_slot(uint64_t addr)
{
	return (size_t)(idmap_mix(addr) % FREED_CACHE);
}

static void record_alloc(struct model *m, struct model_proc *p, const struct ht_alloc *a,
			 uint64_t size)
{
	struct model_alloc e = {
		.addr = a->addr,
		.size = size,
		.ts_ns = a->hdr.ts_ns,
		.tid = a->hdr.tid,
		.stack = stack_index(m, a->stack_id),
	};

	if (p->freed && p->freed[freed_slot(a->addr)] == a->addr)
		p->freed[freed_slot(a->addr)] = 0; /* allocated again: a free of it is fine */
	if (!p->sampled) {
		p->allocs++;
		p->alloc_bytes += size;
	}
	alloc_insert(p, &e);
	for (int h = 0; h < m->nhooks; h++)
		if (m->hooks[h].alloc)
			m->hooks[h].alloc(m->hooks[h].ctx, p, &e);
}

static void record_free(struct model *m, struct model_proc *p, const struct ht_alloc *a,
			uint64_t addr)
{
	long i = alloc_find(p, addr);

	if (!p->sampled)
		p->frees++;
	if (i >= 0) {
		for (int h = 0; h < m->nhooks; h++)
			if (m->hooks[h].free)
				m->hooks[h].free(m->hooks[h].ctx, p, &p->slots[i], a->hdr.ts_ns);
		alloc_remove_at(p, (size_t)i);
		if (!p->freed)
			p->freed = calloc(FREED_CACHE, sizeof(*p->freed));
		if (p->freed)
			p->freed[freed_slot(addr)] = addr;
		return;
	}
	/* sampled: BPF counted it, as one of its unknown frees when it was one */
	if (p->sampled)
		return;
	if (m->internal && m->internal(m->internal_ctx, p, a->caller)) {
		p->internal_frees++;
		return;
	}
	if (p->freed && p->freed[freed_slot(addr)] == addr) {
		if (!p->double_free)
			p->double_free = malloc(MODEL_DOUBLE_FREES_KEPT * sizeof(*p->double_free));
		if (p->double_free && p->double_free_kept < MODEL_DOUBLE_FREES_KEPT)
			p->double_free[p->double_free_kept++] = (struct model_double_free){
				.addr = addr,
				.ts_ns = a->hdr.ts_ns,
				.tid = a->hdr.tid,
				.stack = stack_index(m, a->stack_id),
				.caller = a->caller,
			};
		p->double_frees++;
		return;
	}
	p->unmatched_frees++;
}

/* nmemb * size, or 0 when it overflows (the call then fails). */
static uint64_t array_size(uint64_t nmemb, uint64_t size)
{
	uint64_t r;

	return __builtin_mul_overflow(nmemb, size, &r) ? 0 : r;
}

static void apply_alloc(struct model *m, const struct ht_alloc *a)
{
	struct model_proc *p = proc_get(m, a->hdr.pid, a->hdr.ts_ns);
	uint64_t size = 0, ptr = 0;
	bool is_realloc = false;

	if (!p)
		return;
	if (a->hdr.flags & HT_F_SAMPLED)
		p->sampled = true;
	switch (a->fn) {
	case HT_FN_FREE:
	case HT_FN_DELETE:
		if (a->args[0])
			record_free(m, p, a, a->args[0]);
		return;
	case HT_FN_MALLOC:
	case HT_FN_VALLOC:
	case HT_FN_NEW:
		size = a->args[0];
		break;
	case HT_FN_PVALLOC:
		size = (a->args[0] + 4095) & ~4095ull; /* pvalloc hands out whole pages */
		break;
	case HT_FN_CALLOC:
		size = array_size(a->args[0], a->args[1]);
		break;
	case HT_FN_ALIGNED_ALLOC:
	case HT_FN_MEMALIGN:
		size = a->args[1];
		break;
	case HT_FN_POSIX_MEMALIGN:
		size = a->args[2];
		break;
	case HT_FN_REALLOC:
		is_realloc = true;
		ptr = a->args[0];
		size = a->args[1];
		break;
	case HT_FN_REALLOCARRAY:
		is_realloc = true;
		ptr = a->args[0];
		size = array_size(a->args[1], a->args[2]);
		break;
	default:
		return;
	}
	if (a->hdr.flags & HT_F_NO_RETURN) {
		p->no_return++;
		p->failed_allocs++;
		return;
	}
	if (!a->addr) {
		/* realloc(p, 0) that returns NULL has freed p (glibc); any other NULL failed. */
		if (is_realloc && ptr && size == 0 && a->fn == HT_FN_REALLOC)
			record_free(m, p, a, ptr);
		else if (!p->sampled)
			p->failed_allocs++;
		return;
	}
	if (is_realloc && ptr)
		record_free(m, p, a, ptr);
	record_alloc(m, p, a, size);
}

/* ---------------------------------------------------------------- the rest */

static void apply_fork(struct model *m, const struct ht_fork *f)
{
	struct model_proc *parent = proc_get(m, f->hdr.pid, f->hdr.ts_ns), *child;
	size_t parent_index = m->nprocs; /* parent may move when procs grows */

	for (size_t i = 0; parent && i < m->nprocs; i++)
		if (m->procs[i] == parent)
			parent_index = i;
	child = proc_new(m, f->child_pid, f->hdr.ts_ns);
	if (!child)
		return;
	set_comm(child, f->comm);
	child->ns_pid = f->child_ns_pid;
	if (parent_index == m->nprocs)
		return;
	parent = m->procs[parent_index];
	child->parent = parent->pid;
	/* The child starts with its parent's memory: the same live allocations. */
	if (parent->cap) {
		child->slots = malloc(parent->cap * sizeof(*child->slots));
		if (!child->slots)
			return;
		memcpy(child->slots, parent->slots, parent->cap * sizeof(*child->slots));
		child->cap = parent->cap;
		child->count = parent->count;
	}
	/* in sampled mode BPF's totals start the same way (sample_fork) */
	child->live_bytes = parent->live_bytes;
	child->live_allocs = parent->live_allocs;
	child->sampled = parent->sampled;
}

static void apply_exec(struct model *m, const struct ht_exec *e)
{
	struct model_proc *p = proc_get(m, e->hdr.pid, e->hdr.ts_ns);

	if (!p)
		return;
	if (e->ns_pid)
		p->ns_pid = e->ns_pid;
	/* A new program: the old one's memory is gone, so are its allocations. */
	free(p->slots);
	free(p->freed);
	p->slots = NULL;
	p->freed = NULL;
	p->cap = p->count = 0;
	p->live_bytes = p->live_allocs = 0;
	p->allocs = p->frees = p->failed_allocs = p->no_return = p->alloc_bytes = 0;
	p->unmatched_frees = p->double_frees = p->internal_frees = 0;
	p->double_free_kept = 0;
	set_comm(p, e->comm);
}

/* Sampled mode: a process's counts, exact, as BPF kept them. */
static void apply_totals(struct model *m, const struct ht_totals *t)
{
	struct model_proc *p = proc_get(m, t->hdr.pid, t->hdr.ts_ns);

	if (!p)
		return;
	p->sampled = true;
	p->allocs = t->c.allocs;
	p->alloc_bytes = t->c.alloc_bytes;
	p->frees = t->c.frees;
	p->failed_allocs = t->c.failed_allocs;
	p->no_return = t->c.no_return;
	p->unmatched_frees = t->c.unknown_frees;
	p->live_bytes = (uint64_t)t->c.live_bytes;
	p->live_allocs = (uint64_t)t->c.live_allocs;
}

/*
 * A kernel allocator's record. With a pid filter an allocation made in an interrupt (hard or
 * soft) is not the target's: the interrupt merely landed on its CPU. BPF cannot tell without
 * the per-CPU preempt count (a ksym that needs CONFIG_KALLSYMS_ALL); the stack can, and the
 * report reads it (model_track_kernel).
 */
static void apply_kmem(struct model *m, const struct ht_kmem *k)
{
	if (!m->kernel)
		return;
	if (k->op == HT_KOP_ALLOC && (k->hdr.flags & HT_F_KMEM_FILTERED) && m->in_interrupt &&
	    m->in_interrupt(m->in_interrupt_ctx, k->stack_id)) {
		kmodel_skip_interrupt(m->kernel, k);
		return;
	}
	kmodel_apply(m->kernel, k);
}

void model_apply(struct model *m, const struct ht_hdr *rec)
{
	struct model_proc *p;

	if (rec->ts_ns > m->now)
		m->now = rec->ts_ns;
	switch (rec->type) {
	case HT_REC_ALLOC:
		apply_alloc(m, (const struct ht_alloc *)rec);
		break;
	case HT_REC_STACK:
		/* The process exists from its first stack on: its symbols are keyed by it. */
		if (!(rec->flags & HT_F_KSTACK))
			proc_get(m, rec->pid, rec->ts_ns);
		stack_add(m, (const struct ht_stack *)rec);
		break;
	case HT_REC_FORK:
		apply_fork(m, (const struct ht_fork *)rec);
		break;
	case HT_REC_EXEC:
		apply_exec(m, (const struct ht_exec *)rec);
		break;
	case HT_REC_EXIT: {
		long i = idmap_find(&m->live, rec->pid);

		if (i >= 0) {
			p = m->procs[m->live.vals[i]];
			set_comm(p, ((const struct ht_exit *)rec)->comm);
			proc_retire(m, p, rec->ts_ns, ((const struct ht_exit *)rec)->exit_code);
		}
		break;
	}
	case HT_REC_COMM:
		/* A thread naming itself does not rename its process. */
		if (rec->tid == rec->pid && (p = proc_get(m, rec->pid, rec->ts_ns))) {
			const struct ht_comm *c = (const struct ht_comm *)rec;

			set_comm(p, c->comm);
			/* format 2 and before: no ns_pid in the record */
			if (rec->size >= sizeof(*c) && c->ns_pid)
				p->ns_pid = c->ns_pid;
		}
		break;
	case HT_REC_MAPS:
	case HT_REC_SYSCALL:
	case HT_REC_FAULT:
	case HT_REC_RSS:
	case HT_REC_KFUNC:
		proc_get(m, rec->pid,
			 rec->ts_ns); /* reports name every process that did something */
		break;
	case HT_REC_SAMPLING:
		m->sample_bytes = ((const struct ht_sampling *)rec)->sample_bytes;
		break;
	case HT_REC_TOTALS:
		apply_totals(m, (const struct ht_totals *)rec);
		break;
	case HT_REC_KMEM:
		apply_kmem(m, (const struct ht_kmem *)rec);
		break;
	case HT_REC_LOST: {
		const struct ht_lost *l = (const void *)rec;

		if (l->kind < HT_LOST_MAX)
			m->lost[l->kind] += l->count;
		break;
	}
	}
}

struct model *model_new(void)
{
	return calloc(1, sizeof(struct model));
}

void model_stack_keep(struct model *m, uint32_t index)
{
	if (index < m->nstacks && index < m->marks_len)
		m->stack_marks[index] |= STACK_KEPT;
}

void model_stack_keep_id(struct model *m, uint64_t id)
{
	long i = id ? idmap_find(&m->stack_ids, id) : -1;

	if (i >= 0)
		model_stack_keep(m, m->stack_ids.vals[i]);
}

/* Marks what is referred to: each process's allocations, leaks and double frees, then hooks'. */
static int stacks_mark(struct model *m)
{
	uint8_t *marks = m->stack_marks;

	if (m->marks_len < m->nstacks) {
		marks = realloc(m->stack_marks, m->stacks_cap);
		if (!marks)
			return -1;
		/* stacks new since the last mark are no candidates */
		memset(marks + m->marks_len, 0, m->stacks_cap - m->marks_len);
		m->stack_marks = marks;
		m->marks_len = m->stacks_cap;
	}
	for (size_t i = 0; i < m->nstacks; i++)
		marks[i] &= (uint8_t)~STACK_KEPT;
	for (size_t k = 0; k < m->nfree; k++)
		marks[m->stacks_free[k]] |= STACK_KEPT; /* not a stack: never a candidate */
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct model_proc *p = m->procs[i];

		for (size_t k = 0; k < p->cap; k++)
			if (p->slots[k].addr)
				model_stack_keep(m, p->slots[k].stack);
		for (size_t k = 0; k < p->nsums; k++)
			model_stack_keep(m, p->sums[k].stack);
		for (size_t k = 0; k < p->double_free_kept; k++)
			model_stack_keep(m, p->double_free[k].stack);
	}
	for (int h = 0; h < m->nhooks; h++)
		if (m->hooks[h].mark)
			m->hooks[h].mark(m->hooks[h].ctx, m);
	return 0;
}

size_t model_stacks_unused(struct model *m, uint64_t **ids)
{
	size_t n = 0;

	*ids = NULL;
	if (stacks_mark(m) || !(*ids = malloc((m->nstacks ? m->nstacks : 1) * sizeof(**ids))))
		return 0;
	for (size_t i = 0; i < m->nstacks; i++) {
		m->stack_marks[i] &= (uint8_t)~STACK_CANDIDATE;
		if (!(m->stack_marks[i] & STACK_KEPT)) {
			m->stack_marks[i] |= STACK_CANDIDATE;
			(*ids)[n++] = m->stacks[i].id;
		}
	}
	return n;
}

size_t model_stacks_drop(struct model *m)
{
	size_t n = 0;

	if (!m->marks_len || stacks_mark(m))
		return 0;
	for (size_t i = 0; i < m->nstacks; i++) {
		struct model_stack *st = &m->stacks[i];

		if (m->stack_marks[i] != STACK_CANDIDATE)
			continue;
		if (!vec_room((void **)&m->stacks_free, m->nfree, &m->free_cap,
			      sizeof(*m->stacks_free), 64))
			break;
		idmap_del(&m->stack_ids, st->id);
		free((void *)st->frames);
		*st = (struct model_stack){ 0 };
		m->stacks_free[m->nfree++] = (uint32_t)i;
		m->stack_marks[i] = STACK_KEPT;
		n++;
	}
	m->stacks_dropped += n;
	return n;
}

uint64_t model_stacks_dropped(const struct model *m)
{
	return m->stacks_dropped;
}

size_t model_forget_exited(struct model *m, uint64_t before_ns)
{
	size_t kept = 0, gone;

	for (size_t i = 0; i < m->nprocs; i++) {
		struct model_proc *p = m->procs[i];

		if (p->exited && p->exit_ns < before_ns) {
			for (int h = 0; h < m->nhooks; h++)
				if (m->hooks[h].forget)
					m->hooks[h].forget(m->hooks[h].ctx, p);
			if (m->last == p)
				m->last = NULL;
			proc_destroy(p);
			continue;
		}
		p->index = (uint32_t)kept;
		m->procs[kept++] = p;
		if (!p->exited) {
			long k = idmap_find(&m->live, p->pid);

			if (k >= 0)
				m->live.vals[k] = p->index;
		}
	}
	gone = m->nprocs - kept;
	m->nprocs = kept;
	if (gone)
		for (int h = 0; h < m->nhooks; h++)
			if (m->hooks[h].reindex)
				m->hooks[h].reindex(m->hooks[h].ctx);
	return gone;
}

int model_add_hooks(struct model *m, const struct model_hooks *hooks)
{
	if (m->nhooks == MODEL_MAX_HOOKS)
		return -1;
	m->hooks[m->nhooks++] = *hooks;
	return 0;
}

void model_set_internal(struct model *m,
			bool (*internal)(void *ctx, const struct model_proc *p, uint64_t addr),
			void *ctx)
{
	m->internal = internal;
	m->internal_ctx = ctx;
}

struct kmodel *model_track_kernel(struct model *m,
				  bool (*in_interrupt)(void *ctx, uint64_t stack_id), void *ctx)
{
	if (!m->kernel)
		m->kernel = kmodel_new();
	m->in_interrupt = in_interrupt;
	m->in_interrupt_ctx = ctx;
	return m->kernel;
}

void model_free(struct model *m)
{
	if (!m)
		return;
	kmodel_free(m->kernel);
	for (size_t i = 0; i < m->nprocs; i++)
		proc_destroy(m->procs[i]);
	free(m->procs);
	for (size_t i = 0; i < m->nstacks; i++)
		free((void *)m->stacks[i].frames);
	free(m->stacks);
	free(m->stacks_free);
	free(m->stack_marks);
	idmap_free(&m->live);
	idmap_free(&m->stack_ids);
	free(m);
}

size_t model_nprocs(const struct model *m)
{
	return m->nprocs;
}

const struct model_proc *model_proc_at(const struct model *m, size_t i)
{
	return i < m->nprocs ? m->procs[i] : NULL;
}

const struct model_proc *model_proc_live(const struct model *m, uint32_t pid)
{
	long i = idmap_find(&m->live, pid);

	return i >= 0 ? m->procs[m->live.vals[i]] : NULL;
}

const struct model_alloc *model_proc_next_alloc(const struct model_proc *p, size_t *pos)
{
	while (*pos < p->cap) {
		const struct model_alloc *a = &p->slots[(*pos)++];

		if (a->addr)
			return a;
	}
	return NULL;
}

const struct model_alloc_sum *model_proc_next_sum(const struct model_proc *p, size_t *pos)
{
	return *pos < p->nsums ? &p->sums[(*pos)++] : NULL;
}

void model_set_exit_age(struct model *m, uint64_t min_age_ns)
{
	m->exit_age_ns = min_age_ns;
}

int model_stack_shown_cmp(const uint64_t *fa, uint32_t na, bool cuta, const uint64_t *fb,
			  uint32_t nb, bool cutb)
{
	if (na != nb)
		return na < nb ? -1 : 1;
	if (cuta != cutb)
		return cuta ? 1 : -1;
	return na ? memcmp(fa, fb, na * sizeof(*fa)) : 0;
}

const struct model_stack *model_stack_by_id(const struct model *m, uint64_t id)
{
	long i = id ? idmap_find(&m->stack_ids, id) : -1;

	return i >= 0 ? &m->stacks[m->stack_ids.vals[i]] : NULL;
}

void model_stack_set_mark(struct model *m, uint64_t id, uint8_t mark)
{
	long i = id ? idmap_find(&m->stack_ids, id) : -1;

	if (i >= 0)
		m->stacks[m->stack_ids.vals[i]].mark = mark;
}

const struct model_stack *model_stack(const struct model *m, uint32_t index)
{
	return index < m->nstacks ? &m->stacks[index] : NULL;
}

const uint64_t *model_lost(const struct model *m)
{
	return m->lost;
}

uint64_t model_now(const struct model *m)
{
	return m->now;
}

void model_memory(const struct model *m, struct model_mem *mem)
{
	*mem = (struct model_mem){ .procs = m->nprocs };
	mem->procs_bytes = m->procs_cap * sizeof(*m->procs) +
			   m->live.cap * (sizeof(*m->live.keys) + sizeof(*m->live.vals));
	for (size_t i = 0; i < m->nprocs; i++) {
		mem->procs_bytes += sizeof(struct model_proc) +
				    (m->procs[i]->freed ? FREED_CACHE * sizeof(uint64_t) : 0);
		mem->live += m->procs[i]->count;
		mem->alloc_bytes += m->procs[i]->cap * sizeof(struct model_alloc) +
				    m->procs[i]->nsums * sizeof(struct model_alloc_sum);
	}
	mem->stacks = m->nstacks - m->nfree;
	mem->stacks_bytes =
		m->stacks_cap * sizeof(*m->stacks) +
		m->stack_ids.cap * (sizeof(*m->stack_ids.keys) + sizeof(*m->stack_ids.vals));
	for (size_t i = 0; i < m->nstacks; i++)
		mem->stacks_bytes += m->stacks[i].nframes * sizeof(uint64_t) + 1;
}

uint64_t model_sample_bytes(const struct model *m)
{
	return m->sample_bytes;
}

double model_sample_weight(const struct model *m, uint64_t size)
{
	if (!m->sample_bytes || !size)
		return 1.0;
	return -1.0 / expm1(-(double)size / (double)m->sample_bytes);
}

uint64_t model_sample_count(const struct model *m, const struct model_alloc *a)
{
	double w, whole;
	uint64_t z;

	if (!m->sample_bytes)
		return 1;
	w = model_sample_weight(m, a->size);
	whole = floor(w);
	/* splitmix64's finalizer: a uniform number in [0, 1) from the block */
	z = a->addr ^ (a->ts_ns * 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	return (uint64_t)whole + ((double)(z >> 11) * 0x1p-53 < w - whole);
}

uint64_t model_proc_live_allocs(const struct model_proc *p)
{
	return p->sampled ? p->live_allocs : p->count;
}

size_t model_alloc_memory(const struct model *m)
{
	size_t bytes = 0;

	for (size_t i = 0; i < m->nprocs; i++)
		bytes += m->procs[i]->cap * sizeof(struct model_alloc) +
			 m->procs[i]->nsums * sizeof(struct model_alloc_sum);
	return bytes;
}
