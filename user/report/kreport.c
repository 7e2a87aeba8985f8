// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel-allocator reports: outstanding allocations grouped by (allocator, cache, stack),
 * counters per allocator and cache, and the distributions of `hist -k`.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "record/event.h"
#include "report/kreport.h"
#include "util/vec.h"
#include "util/say.h"

void kreport_follow_symbols(struct kreport *kr, const struct ht_hdr *rec)
{
	ksyms_follow(kr->ks, rec);
	slabs_follow(kr->sl, rec);
}

static bool kreport_in_interrupt(void *ctx, uint64_t stack_id)
{
	return kreport_stack_in_interrupt(ctx, stack_id);
}

int kreport_init(struct kreport *kr, struct model *m, bool from_file)
{
	*kr = (struct kreport){ .ks = ksyms_new(),
				.sl = slabs_new(),
				.m = m,
				/* not this machine's */
				.slabs_tried = from_file };
	kr->km = m ? model_track_kernel(m, kreport_in_interrupt, kr) : NULL;
	return kr->km && kr->ks && kr->sl ? 0 : -1;
}

void kreport_fini(struct kreport *kr)
{
	ksyms_free(kr->ks);
	slabs_free(kr->sl);
}

/* Live: the running kernel's symbols, unless a recording brought its own. */
static struct ksyms *ksyms_of(struct kreport *kr)
{
	if (ksyms_empty(kr->ks) && !kr->ksyms_tried) {
		kr->ksyms_tried = true;
		if (ksyms_load_proc(kr->ks))
			say("no kernel symbols (/proc/kallsyms unreadable); kernel frames are "
			    "shown as addresses");
	}
	return kr->ks;
}

/* ---------------------------------------------------------------- grouping */

static int by_key(const void *a, const void *b)
{
	const struct kreport_group *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->cache != y->cache)
		return x->cache < y->cache ? -1 : 1;
	if (x->stack_id != y->stack_id)
		return x->stack_id < y->stack_id ? -1 : 1;
	if (!x->stack_id && x->call_site != y->call_site)
		return x->call_site < y->call_site ? -1 : 1;
	return 0;
}

static int by_bytes(const void *a, const void *b)
{
	const struct kreport_group *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : by_key(a, b);
}

/* Live allocations at least min_age old, one entry per group, largest first. */
struct kreport_group *kreport_groups(struct kreport *kr, uint64_t now, size_t *n, uint64_t *bytes,
				     uint64_t *allocs)
{
	struct kreport_group *all = NULL, *out;
	size_t cap = 0, cnt = 0, pos = 0, ng = 0;
	const struct kmodel_alloc *a;

	*bytes = *allocs = 0;
	while ((a = kmodel_next(kr->km, &pos))) {
		if (kr->min_age_ns && (a->ts_ns > now || now - a->ts_ns < kr->min_age_ns))
			continue;
		if (!vec_room((void **)&all, cnt, &cap, sizeof(*all), 1024))
			break;
		all[cnt++] =
			(struct kreport_group){ a->kind,	a->cache, a->stack_id, a->call_site,
						a->bytes_alloc, 1,	  a->ts_ns };
		*bytes += a->bytes_alloc;
		(*allocs)++;
	}
	if (!cnt) {
		free(all);
		*n = 0;
		return NULL;
	}
	qsort(all, cnt, sizeof(*all), by_key);
	out = all;
	for (size_t i = 0; i < cnt; i++) {
		if (ng && !by_key(&out[ng - 1], &all[i])) {
			struct kreport_group *g = &out[ng - 1];

			g->bytes += all[i].bytes;
			g->allocs++;
			if (all[i].oldest_ns < g->oldest_ns)
				g->oldest_ns = all[i].oldest_ns;
			continue;
		}
		out[ng++] = all[i];
	}
	qsort(out, ng, sizeof(*out), by_bytes);
	*n = ng;
	return out;
}

/*
 * The frames of the tracing machinery itself (our BPF program, the tracepoint's iterator and
 * run function) sit innermost in every captured stack: they are not the allocation's. BPF
 * programs may be missing from a recording's kallsyms (taken before they loaded), so the cut is
 * after the last such frame among the innermost few, not at the first other one.
 */
static bool tracing_frame(const char *sym)
{
	return sym && (!strncmp(sym, "bpf_", 4) || !strncmp(sym, "__bpf_", 6) ||
		       !strncmp(sym, "__traceiter_", 12) || !strncmp(sym, "perf_trace_", 11));
}

#define TRACING_FRAMES_MAX 8

/*
 * Was the stack's allocation made in an interrupt (hard or soft)? It ran on whatever task it
 * interrupted, so a pid filter keeps it as that task's; the entry frames say what it was.
 */
static bool interrupt_stack(struct kreport *kr, uint64_t stack_id)
{
	static const char *const entries[] = { "asm_sysvec_",	  "asm_common_interrupt",
					       "handle_softirqs", "__do_softirq",
					       "irq_exit_rcu",	  "do_softirq",
					       "asm_exc_nmi" };
	const struct model_stack *st = model_stack_by_id(kr->m, stack_id);

	if (!st || !st->frames)
		return false;
	for (uint32_t i = 0; i < st->nframes; i++) {
		const char *module = NULL, *sym;
		uint64_t off;

		sym = ksyms_lookup(ksyms_of(kr), st->frames[i], &off, &module);
		for (size_t k = 0; sym && k < sizeof(entries) / sizeof(entries[0]); k++)
			if (!strncmp(sym, entries[k], strlen(entries[k])))
				return true;
	}
	return false;
}

#define MARK_PROCESS   1
#define MARK_INTERRUPT 2

/* interrupt_stack, remembered in the model's stack (stacks not arrived yet are not) */
bool kreport_stack_in_interrupt(struct kreport *kr, uint64_t stack_id)
{
	const struct model_stack *st = kr->m ? model_stack_by_id(kr->m, stack_id) : NULL;

	if (!st || !st->frames)
		return false;
	if (!st->mark)
		model_stack_set_mark(kr->m, stack_id,
				     interrupt_stack(kr, stack_id) ? MARK_INTERRUPT : MARK_PROCESS);
	return st->mark == MARK_INTERRUPT;
}

/* Calls fn for addr with its symbol (NULL when unknown), offset and module. */
void kreport_frame(struct kreport *kr, uint64_t addr, kreport_frame_fn fn, void *ctx)
{
	const char *module = NULL, *sym;
	uint64_t off = 0;

	sym = ksyms_lookup(ksyms_of(kr), addr, &off, &module);
	fn(ctx, addr, sym, off, module);
}

/* Calls fn for each frame worth showing, innermost first. */
void kreport_keep_stacks(const struct kreport *kr, struct model *m)
{
	const struct kmodel_alloc *a;
	size_t pos = 0;

	while (kr->km && (a = kmodel_next(kr->km, &pos)))
		model_stack_keep_id(m, a->stack_id);
}

void kreport_frames(struct kreport *kr, uint64_t stack_id, kreport_frame_fn fn, void *ctx)
{
	const struct model_stack *st = model_stack_by_id(kr->m, stack_id);
	struct ksyms *ks = ksyms_of(kr);
	uint32_t start = 0;
	unsigned shown = 0;

	if (!st || !st->frames)
		return;
	for (uint32_t i = 0; i < st->nframes && i < TRACING_FRAMES_MAX; i++) {
		const char *module = NULL;
		uint64_t off = 0;

		if (tracing_frame(ksyms_lookup(ks, st->frames[i], &off, &module)))
			start = i + 1;
	}
	for (uint32_t i = start; i < st->nframes && shown < kr->stack_depth; i++, shown++)
		kreport_frame(kr, st->frames[i], fn, ctx);
}

/* Live: the running kernel's merged caches, unless a recording brought its own. */
struct slabs *kreport_slabs(struct kreport *kr)
{
	if (kr->sl && slabs_empty(kr->sl) && !kr->slabs_tried) {
		kr->slabs_tried = true;
		slabs_load_sys(kr->sl); /* no SLUB sysfs: merged caches are not named */
	}
	return kr->sl;
}

const char *kreport_cache_name(struct kreport *kr, uint16_t cache)
{
	const struct kmodel_cache *c =
		cache == KMODEL_NO_CACHE ? NULL : kmodel_cache_at(kr->km, cache);

	return c ? c->name : NULL;
}

/* ---------------------------------------------------------------- leaks */

/* ---------------------------------------------------------------- hist -k */

void kreport_hists_init(struct khists *h, uint64_t linear_step)
{
	memset(h, 0, sizeof(*h));
	h->step = linear_step;
	for (int k = 0; k < HT_KA_MAX; k++)
		hist_init(&h->size[k], linear_step);
	hist_init(&h->lifetime, linear_step);
	hist_init(&h->order, 1); /* orders are small integers: one bucket each */
}

void kreport_hists_free(struct khists *h)
{
	for (int k = 0; k < HT_KA_MAX; k++)
		hist_free(&h->size[k]);
	hist_free(&h->lifetime);
	hist_free(&h->order);
	for (size_t i = 0; i < h->ncaches; i++)
		hist_free(&h->cache_size[i]);
	free(h->cache_size);
}

static void count_gfp(void *ctx, const char *name)
{
	struct khists *h = ctx;
	size_t i;

	for (i = 0; i < h->ngfp; i++)
		if (!strcmp(h->gfp[i].name, name))
			break;
	if (i == h->ngfp) {
		/* names are static strings, but for unknown bits (one static buffer) */
		if (h->ngfp == sizeof(h->gfp) / sizeof(h->gfp[0]) || name[0] == '0')
			name = "other";
		for (i = 0; i < h->ngfp && strcmp(h->gfp[i].name, name); i++)
			;
		if (i == h->ngfp) {
			if (h->ngfp == sizeof(h->gfp) / sizeof(h->gfp[0]))
				return;
			h->gfp[h->ngfp++].name = name;
		}
	}
	h->gfp[i].count++;
}

static void on_kalloc(void *ctx, const struct kmodel_alloc *a)
{
	struct khists *h = ctx;

	if (a->kind < HT_KA_MAX)
		hist_add(&h->size[a->kind], a->bytes_req);
	if (a->kind == HT_KA_PAGE)
		hist_add(&h->order, a->order);
	if (a->cache != KMODEL_NO_CACHE) {
		if (a->cache >= h->ncaches) {
			size_t n = (size_t)a->cache + 1;
			struct hist *c = realloc(h->cache_size, n * sizeof(*c));

			if (!c)
				return;
			for (size_t i = h->ncaches; i < n; i++)
				hist_init(&c[i], h->step);
			h->cache_size = c;
			h->ncaches = n;
		}
		hist_add(&h->cache_size[a->cache], a->bytes_req);
	}
	ht_gfp_each(a->gfp_flags, count_gfp, h);
}

static void on_kfree(void *ctx, const struct kmodel_alloc *a, uint64_t ts_ns)
{
	struct khists *h = ctx;

	if (ts_ns >= a->ts_ns)
		hist_add(&h->lifetime, ts_ns - a->ts_ns);
}

void kreport_hists_attach(struct khists *h, struct kreport *kr)
{
	struct kmodel_hooks hooks = { .alloc = on_kalloc, .free = on_kfree, .ctx = h };

	kmodel_set_hooks(kr->km, &hooks);
}

static int kreport_gfp_by_count(const void *a, const void *b)
{
	const typeof(((struct khists *)0)->gfp[0]) *x = a, *y = b;

	return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->name, y->name);
}

void kreport_hists_sort_gfp(struct khists *h)
{
	qsort(h->gfp, h->ngfp, sizeof(h->gfp[0]), kreport_gfp_by_count);
}

/* Waste of a cache: what its size classes gave beyond what callers asked for. */
double kreport_waste_pct(const struct kmodel_counts *c)
{
	return c->bytes_alloc
		       ? 100.0 * (double)(c->bytes_alloc - c->bytes_req) / (double)c->bytes_alloc
		       : 0.0;
}
