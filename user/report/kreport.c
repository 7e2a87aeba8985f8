// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel-allocator reports: outstanding allocations grouped by (allocator, cache, stack),
 * counters per allocator and cache, and the distributions of `hist -k`.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "record/event.h"
#include "output/hist_out.h"
#include "report/kreport.h"

static bool stack_in_interrupt(struct kreport *kr, uint64_t stack_id);

void kreport_follow(struct kreport *kr, const struct ht_hdr *rec)
{
	const struct ht_kmem *k = (const void *)rec;

	if (rec->type != HT_REC_KMEM) {
		ksyms_follow(kr->ks, rec);
		slabs_follow(kr->sl, rec);
		return;
	}
	/*
	 * With a pid filter, an allocation made in an interrupt (hard or soft) is not the
	 * target's: the interrupt merely landed on its CPU. BPF cannot tell without the per-CPU
	 * preempt count (a ksym that needs CONFIG_KALLSYMS_ALL); the stack can.
	 */
	if (k->op == HT_KOP_ALLOC && (rec->flags & HT_F_KMEM_FILTERED) &&
	    stack_in_interrupt(kr, k->stack_id)) {
		kmodel_skip_interrupt(kr->km, k);
		return;
	}
	kmodel_apply(kr->km, k);
}

int kreport_init(struct kreport *kr, struct model *m, bool from_file)
{
	*kr = (struct kreport){ .km = kmodel_new(),
				.ks = ksyms_new(),
				.sl = slabs_new(),
				.m = m,
				/* not this machine's */
				.slabs_tried = from_file };
	return kr->km && kr->ks && kr->sl ? 0 : -1;
}

void kreport_fini(struct kreport *kr)
{
	kmodel_free(kr->km);
	ksyms_free(kr->ks);
	slabs_free(kr->sl);
}

/* Live: the running kernel's symbols, unless a recording brought its own. */
static struct ksyms *ksyms_of(struct kreport *kr)
{
	if (ksyms_empty(kr->ks) && !kr->ksyms_tried) {
		kr->ksyms_tried = true;
		if (ksyms_load_proc(kr->ks))
			fprintf(stderr, "heaptrail: no kernel symbols (/proc/kallsyms unreadable); "
					"kernel frames are shown as addresses\n");
	}
	return kr->ks;
}

/* ---------------------------------------------------------------- grouping */

struct kgroup {
	uint8_t kind;
	uint16_t cache;
	uint64_t stack_id; /* 0: grouped by call site */
	uint64_t call_site;
	uint64_t bytes, allocs;
	uint64_t oldest_ns;
};

static int by_key(const void *a, const void *b)
{
	const struct kgroup *x = a, *y = b;

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
	const struct kgroup *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : by_key(a, b);
}

/* Live allocations at least min_age old, one entry per group, largest first. */
static struct kgroup *groups(struct kreport *kr, uint64_t now, size_t *n, uint64_t *bytes,
			     uint64_t *allocs)
{
	struct kgroup *all = NULL, *out;
	size_t cap = 0, cnt = 0, pos = 0, ng = 0;
	const struct kmodel_alloc *a;

	*bytes = *allocs = 0;
	while ((a = kmodel_next(kr->km, &pos))) {
		if (kr->min_age_ns && (a->ts_ns > now || now - a->ts_ns < kr->min_age_ns))
			continue;
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct kgroup *g = realloc(all, ncap * sizeof(*g));

			if (!g)
				break;
			all = g;
			cap = ncap;
		}
		all[cnt++] = (struct kgroup){ a->kind,	      a->cache, a->stack_id, a->call_site,
					      a->bytes_alloc, 1,	a->ts_ns };
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
			struct kgroup *g = &out[ng - 1];

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
static bool stack_in_interrupt(struct kreport *kr, uint64_t stack_id)
{
	const struct model_stack *st = kr->m ? model_stack_by_id(kr->m, stack_id) : NULL;

	if (!st || !st->frames)
		return false;
	if (!st->mark)
		model_stack_set_mark(kr->m, stack_id,
				     interrupt_stack(kr, stack_id) ? MARK_INTERRUPT : MARK_PROCESS);
	return st->mark == MARK_INTERRUPT;
}

typedef void (*frame_fn)(void *ctx, uint64_t addr, const char *sym, uint64_t off,
			 const char *module);

/* Calls fn for addr with its symbol (NULL when unknown), offset and module. */
static void one_frame(struct kreport *kr, uint64_t addr, frame_fn fn, void *ctx)
{
	const char *module = NULL, *sym;
	uint64_t off = 0;

	sym = ksyms_lookup(ksyms_of(kr), addr, &off, &module);
	fn(ctx, addr, sym, off, module);
}

/* Calls fn for each frame worth showing, innermost first. */
static void each_frame(struct kreport *kr, uint64_t stack_id, frame_fn fn, void *ctx)
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
		one_frame(kr, st->frames[i], fn, ctx);
}

static void json_kv_null(struct json *j, const char *key)
{
	json_key(j, key);
	json_null(j);
}

static void text_frame(void *ctx, uint64_t addr, const char *sym, uint64_t off, const char *module)
{
	FILE *out = ctx;

	if (sym)
		fprintf(out, "    %s+0x%" PRIx64 " [%s]\n", sym, off, module ? module : "kernel");
	else
		fprintf(out, "    0x%" PRIx64 " [unknown]\n", addr);
}

static void json_frame(void *ctx, uint64_t addr, const char *sym, uint64_t off, const char *module)
{
	struct json *j = ctx;

	json_object_begin(j);
	json_kv_addr(j, "addr", addr);
	if (sym) {
		char name[256];

		snprintf(name, sizeof(name), "%s+0x%" PRIx64, sym, off);
		json_kv_string(j, "sym", name);
	} else {
		json_kv_null(j, "sym");
	}
	json_kv_string(j, "module", module ? module : "kernel");
	json_kv_null(j, "file");
	json_kv_null(j, "line");
	json_object_end(j);
}

/* Live: the running kernel's merged caches, unless a recording brought its own. */
static struct slabs *slabs_of(struct kreport *kr)
{
	if (kr->sl && slabs_empty(kr->sl) && !kr->slabs_tried) {
		kr->slabs_tried = true;
		slabs_load_sys(kr->sl); /* no SLUB sysfs: merged caches are not named */
	}
	return kr->sl;
}

struct alias_out {
	FILE *out;
	unsigned n;
};

static void text_alias(void *ctx, const char *other)
{
	struct alias_out *t = ctx;

	fprintf(t->out, "%s%s", t->n++ ? ", " : ", merged with ", other);
}

static void json_alias(void *ctx, const char *other)
{
	json_string(ctx, other);
}

static const char *cache_name(struct kreport *kr, uint16_t cache)
{
	const struct kmodel_cache *c =
		cache == KMODEL_NO_CACHE ? NULL : kmodel_cache_at(kr->km, cache);

	return c ? c->name : NULL;
}

/* ---------------------------------------------------------------- leaks */

void kreport_leaks_text(struct kreport *kr, FILE *out, uint64_t now)
{
	uint64_t bytes, allocs, skipped = 0;
	size_t n, shown;
	struct kgroup *g = groups(kr, now, &n, &bytes, &allocs);

	fprintf(out, "kernel: %" PRIu64 " bytes in %" PRIu64 " outstanding allocations", bytes,
		allocs);
	if (kr->min_age_ns)
		fprintf(out, " older than %" PRIu64 " ms", kr->min_age_ns / 1000000);
	fprintf(out, "\n  %-12s %10s %10s %10s %12s %12s\n", "ALLOCATOR", "ALLOCS", "FREES", "LIVE",
		"LIVE_BYTES", "MISSED_FREES");
	for (unsigned k = 1; k < HT_KA_MAX; k++) {
		const struct kmodel_counts *c = kmodel_kind_counts(kr->km, k);

		fprintf(out,
			"  %-12s %10" PRIu64 " %10" PRIu64 " %10" PRIu64 " %12" PRIu64 " %12" PRIu64
			"\n",
			ht_kalloc_name(k), c->allocs, c->frees, c->live_allocs, c->live_bytes,
			c->missed_frees);
		skipped += c->interrupt_skipped;
	}
	if (skipped)
		fprintf(out,
			"  %" PRIu64 " allocations made in interrupts on a target's CPU were not "
			"counted as its own (interrupt_skipped)\n",
			skipped);
	shown = n < kr->top ? n : kr->top;
	for (size_t i = 0; i < shown; i++) {
		const char *cache = cache_name(kr, g[i].cache);

		struct alias_out alias = { out, 0 };

		fprintf(out, "  %" PRIu64 " bytes in %" PRIu64 " allocation%s, %s", g[i].bytes,
			g[i].allocs, g[i].allocs == 1 ? "" : "s", ht_kalloc_name(g[i].kind));
		if (cache) {
			fprintf(out, " (%s", cache);
			slabs_merged_with(slabs_of(kr), cache, text_alias, &alias);
			fputc(')', out);
		}
		fprintf(out, "%s, from:\n",
			stack_in_interrupt(kr, g[i].stack_id) ? ", in interrupt context" : "");
		if (g[i].stack_id) {
			each_frame(kr, g[i].stack_id, text_frame, out);
		} else if (g[i].call_site) {
			one_frame(kr, g[i].call_site, text_frame, out);
		} else {
			fprintf(out, "    (stack not captured)\n");
		}
	}
	if (n > shown)
		fprintf(out, "  ... and %zu more stacks (--top)\n", n - shown);
	free(g);
}

static void json_counts(struct json *j, const struct kmodel_counts *c)
{
	json_kv_u64(j, "allocs", c->allocs);
	json_kv_u64(j, "frees", c->frees);
	json_kv_u64(j, "live_allocs", c->live_allocs);
	json_kv_u64(j, "live_bytes", c->live_bytes);
	json_kv_u64(j, "missed_frees", c->missed_frees);
	json_kv_u64(j, "untracked", c->untracked);
	json_kv_u64(j, "interrupt_skipped", c->interrupt_skipped);
	json_kv_u64(j, "bytes_req", c->bytes_req);
	json_kv_u64(j, "bytes_alloc", c->bytes_alloc);
}

static int cache_by_live(const void *a, const void *b)
{
	const struct kmodel_cache *x = *(const struct kmodel_cache *const *)a;
	const struct kmodel_cache *y = *(const struct kmodel_cache *const *)b;

	if (x->c.live_bytes != y->c.live_bytes)
		return x->c.live_bytes < y->c.live_bytes ? 1 : -1;
	return strcmp(x->name, y->name);
}

void kreport_leaks_json(struct kreport *kr, struct json *j, uint64_t now)
{
	uint64_t bytes, allocs;
	size_t n, nc = kmodel_ncaches(kr->km);
	struct kgroup *g = groups(kr, now, &n, &bytes, &allocs);
	const struct kmodel_cache **cs = calloc(nc ? nc : 1, sizeof(*cs));

	json_object_begin(j);
	json_kv_u64(j, "live_bytes", bytes);
	json_kv_u64(j, "live_allocs", allocs);
	json_kv_u64(j, "min_age_ns", kr->min_age_ns);
	json_key(j, "allocators");
	json_array_begin(j);
	for (unsigned k = 1; k < HT_KA_MAX; k++) {
		json_object_begin(j);
		json_kv_string(j, "allocator", ht_kalloc_name(k));
		json_counts(j, kmodel_kind_counts(kr->km, k));
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "caches");
	json_array_begin(j);
	for (size_t i = 0; cs && i < nc; i++)
		cs[i] = kmodel_cache_at(kr->km, i);
	if (cs)
		qsort(cs, nc, sizeof(*cs), cache_by_live);
	for (size_t i = 0; cs && i < nc; i++) {
		json_object_begin(j);
		json_kv_string(j, "cache", cs[i]->name);
		/* the caches the kernel merged with this one: its counts are theirs too */
		json_key(j, "merged_with");
		json_array_begin(j);
		slabs_merged_with(slabs_of(kr), cs[i]->name, json_alias, j);
		json_array_end(j);
		json_counts(j, &cs[i]->c);
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "stacks");
	json_array_begin(j);
	for (size_t i = 0; i < n && i < kr->top; i++) {
		const char *cache = cache_name(kr, g[i].cache);

		json_object_begin(j);
		json_kv_u64(j, "bytes", g[i].bytes);
		json_kv_u64(j, "allocs", g[i].allocs);
		json_kv_string(j, "allocator", ht_kalloc_name(g[i].kind));
		if (cache)
			json_kv_string(j, "cache", cache);
		else
			json_kv_null(j, "cache");
		json_kv_u64(j, "oldest_ns", g[i].oldest_ns);
		json_kv_bool(j, "interrupt", stack_in_interrupt(kr, g[i].stack_id));
		json_key(j, "call_site");
		if (g[i].call_site)
			one_frame(kr, g[i].call_site, json_frame, j);
		else
			json_null(j);
		json_key(j, "frames");
		json_array_begin(j);
		if (g[i].stack_id)
			each_frame(kr, g[i].stack_id, json_frame, j);
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_kv_u64(j, "stacks_total", n);
	json_object_end(j);
	free(cs);
	free(g);
}

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

static int gfp_by_count(const void *a, const void *b)
{
	const typeof(((struct khists *)0)->gfp[0]) *x = a, *y = b;

	return x->count < y->count ? 1 : x->count > y->count ? -1 : strcmp(x->name, y->name);
}

/* Waste of a cache: what its size classes gave beyond what callers asked for. */
static double waste_pct(const struct kmodel_counts *c)
{
	return c->bytes_alloc
		       ? 100.0 * (double)(c->bytes_alloc - c->bytes_req) / (double)c->bytes_alloc
		       : 0.0;
}

void kreport_hists_text(struct khists *h, struct kreport *kr, FILE *out)
{
	fprintf(out, "kernel allocators\n");
	for (unsigned k = 1; k < HT_KA_MAX; k++) {
		if (!h->size[k].total)
			continue;
		fprintf(out, "\n  kmem_size %s\n", ht_kalloc_name(k));
		hist_out_text(out, &h->size[k], "bytes");
	}
	for (size_t i = 0; i < h->ncaches; i++) {
		if (!h->cache_size[i].total)
			continue;
		fprintf(out, "\n  kmem_size cache %s\n", kmodel_cache_at(kr->km, i)->name);
		hist_out_text(out, &h->cache_size[i], "bytes");
	}
	if (h->lifetime.total) {
		fprintf(out, "\n  kmem_lifetime\n");
		hist_out_text(out, &h->lifetime, "ns");
	}
	if (h->order.total) {
		fprintf(out, "\n  page_order\n");
		hist_out_text(out, &h->order, "order");
	}
	if (h->ngfp) {
		qsort(h->gfp, h->ngfp, sizeof(h->gfp[0]), gfp_by_count);
		fprintf(out, "\n  gfp_flags\n");
		for (size_t i = 0; i < h->ngfp; i++)
			fprintf(out, "     %-24s : %" PRIu64 "\n", h->gfp[i].name, h->gfp[i].count);
	}
	if (kmodel_ncaches(kr->km)) {
		fprintf(out, "\n  %-32s %10s %14s %14s %8s\n", "CACHE", "ALLOCS", "BYTES_REQ",
			"BYTES_ALLOC", "WASTE");
		for (size_t i = 0; i < kmodel_ncaches(kr->km); i++) {
			const struct kmodel_cache *c = kmodel_cache_at(kr->km, i);

			fprintf(out, "  %-32s %10" PRIu64 " %14" PRIu64 " %14" PRIu64 " %7.1f%%\n",
				c->name, c->c.allocs, c->c.bytes_req, c->c.bytes_alloc,
				waste_pct(&c->c));
		}
	}
	fprintf(out, "\n");
}

static void json_hist_obj(struct json *j, const char *name, const char *unit, const char *key,
			  const char *val, const struct hist *h)
{
	json_object_begin(j);
	json_kv_u64(j, "pid", 0);
	json_kv_bool(j, "kernel", true);
	json_kv_string(j, "name", name);
	json_kv_string(j, "unit", unit);
	if (key)
		json_kv_string(j, key, val);
	hist_out_json(j, h);
	json_object_end(j);
}

void kreport_hists_json(struct khists *h, struct kreport *kr, struct json *j)
{
	for (unsigned k = 1; k < HT_KA_MAX; k++)
		if (h->size[k].total)
			json_hist_obj(j, "kmem_size", "bytes", "allocator", ht_kalloc_name(k),
				      &h->size[k]);
	for (size_t i = 0; i < h->ncaches; i++)
		if (h->cache_size[i].total)
			json_hist_obj(j, "kmem_size", "bytes", "cache",
				      kmodel_cache_at(kr->km, i)->name, &h->cache_size[i]);
	json_hist_obj(j, "kmem_lifetime", "ns", NULL, NULL, &h->lifetime);
	json_hist_obj(j, "page_order", "order", NULL, NULL, &h->order);
	qsort(h->gfp, h->ngfp, sizeof(h->gfp[0]), gfp_by_count);
	json_object_begin(j);
	json_kv_u64(j, "pid", 0);
	json_kv_bool(j, "kernel", true);
	json_kv_string(j, "name", "gfp_flags");
	json_kv_string(j, "unit", "flag");
	json_key(j, "buckets");
	json_array_begin(j);
	for (size_t i = 0; i < h->ngfp; i++) {
		json_object_begin(j);
		json_kv_u64(j, "lo", i);
		json_kv_u64(j, "hi", i + 1);
		json_kv_u64(j, "count", h->gfp[i].count);
		json_kv_string(j, "label", h->gfp[i].name);
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

void kreport_hists_json_waste(struct kreport *kr, struct json *j)
{
	json_array_begin(j);
	for (size_t i = 0; i < kmodel_ncaches(kr->km); i++) {
		const struct kmodel_cache *c = kmodel_cache_at(kr->km, i);

		json_object_begin(j);
		json_kv_string(j, "cache", c->name);
		json_kv_u64(j, "allocs", c->c.allocs);
		json_kv_u64(j, "bytes_req", c->c.bytes_req);
		json_kv_u64(j, "bytes_alloc", c->c.bytes_alloc);
		json_kv_u64(j, "waste_bytes", c->c.bytes_alloc - c->c.bytes_req);
		json_key(j, "waste_pct");
		json_double(j, waste_pct(&c->c));
		json_object_end(j);
	}
	json_array_end(j);
}
