// SPDX-License-Identifier: GPL-2.0-only
/* The kernel sections of leaks and hist (-k), as text and as JSON. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "output/hist_out.h"
#include "output/kreport_out.h"
#include "record/event.h"

static void kreport_out_null(struct json *j, const char *key)
{
	json_key(j, key);
	json_null(j);
}

static void kreport_out_text_frame(void *ctx, uint64_t addr, const char *sym, uint64_t off,
				   const char *module)
{
	FILE *out = ctx;

	if (sym)
		fprintf(out, "    %s+0x%" PRIx64 " [%s]\n", sym, off, module ? module : "kernel");
	else
		fprintf(out, "    0x%" PRIx64 " [unknown]\n", addr);
}

static void kreport_out_json_frame(void *ctx, uint64_t addr, const char *sym, uint64_t off,
				   const char *module)
{
	struct json *j = ctx;

	json_object_begin(j);
	json_kv_addr(j, "addr", addr);
	if (sym) {
		char name[256];

		snprintf(name, sizeof(name), "%s+0x%" PRIx64, sym, off);
		json_kv_string(j, "sym", name);
	} else {
		kreport_out_null(j, "sym");
	}
	json_kv_string(j, "module", module ? module : "kernel");
	kreport_out_null(j, "file");
	kreport_out_null(j, "line");
	json_object_end(j);
}

struct kreport_out_alias {
	FILE *out;
	unsigned n;
};

static void kreport_out_text_alias(void *ctx, const char *other)
{
	struct kreport_out_alias *t = ctx;

	fprintf(t->out, "%s%s", t->n++ ? ", " : ", merged with ", other);
}

static void kreport_out_json_alias(void *ctx, const char *other)
{
	json_string(ctx, other);
}

void kreport_out_leaks_text(struct kreport *kr, FILE *out, uint64_t now)
{
	uint64_t bytes, allocs, skipped = 0;
	size_t n, shown;
	struct kreport_group *g = kreport_groups(kr, now, &n, &bytes, &allocs);

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
		const char *cache = kreport_cache_name(kr, g[i].cache);

		struct kreport_out_alias alias = { out, 0 };

		fprintf(out, "  %" PRIu64 " bytes in %" PRIu64 " allocation%s, %s", g[i].bytes,
			g[i].allocs, g[i].allocs == 1 ? "" : "s", ht_kalloc_name(g[i].kind));
		if (cache) {
			fprintf(out, " (%s", cache);
			slabs_merged_with(kreport_slabs(kr), cache, kreport_out_text_alias, &alias);
			fputc(')', out);
		}
		fprintf(out, "%s, from:\n",
			kreport_stack_in_interrupt(kr, g[i].stack_id) ? ", in interrupt context"
								      : "");
		if (g[i].stack_id) {
			kreport_frames(kr, g[i].stack_id, kreport_out_text_frame, out);
		} else if (g[i].call_site) {
			kreport_frame(kr, g[i].call_site, kreport_out_text_frame, out);
		} else {
			fprintf(out, "    (stack not captured)\n");
		}
	}
	if (n > shown)
		fprintf(out, "  ... and %zu more stacks (--top)\n", n - shown);
	free(g);
}

static void kreport_out_counts(struct json *j, const struct kmodel_counts *c)
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

static int kreport_out_by_live(const void *a, const void *b)
{
	const struct kmodel_cache *x = *(const struct kmodel_cache *const *)a;
	const struct kmodel_cache *y = *(const struct kmodel_cache *const *)b;

	if (x->c.live_bytes != y->c.live_bytes)
		return x->c.live_bytes < y->c.live_bytes ? 1 : -1;
	return strcmp(x->name, y->name);
}

void kreport_out_leaks_json(struct kreport *kr, struct json *j, uint64_t now)
{
	uint64_t bytes, allocs;
	size_t n, nc = kmodel_ncaches(kr->km);
	struct kreport_group *g = kreport_groups(kr, now, &n, &bytes, &allocs);
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
		kreport_out_counts(j, kmodel_kind_counts(kr->km, k));
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "caches");
	json_array_begin(j);
	for (size_t i = 0; cs && i < nc; i++)
		cs[i] = kmodel_cache_at(kr->km, i);
	if (cs)
		qsort(cs, nc, sizeof(*cs), kreport_out_by_live);
	for (size_t i = 0; cs && i < nc; i++) {
		json_object_begin(j);
		json_kv_string(j, "cache", cs[i]->name);
		/* the caches the kernel merged with this one: its counts are theirs too */
		json_key(j, "merged_with");
		json_array_begin(j);
		slabs_merged_with(kreport_slabs(kr), cs[i]->name, kreport_out_json_alias, j);
		json_array_end(j);
		kreport_out_counts(j, &cs[i]->c);
		json_object_end(j);
	}
	json_array_end(j);
	json_key(j, "stacks");
	json_array_begin(j);
	for (size_t i = 0; i < n && i < kr->top; i++) {
		const char *cache = kreport_cache_name(kr, g[i].cache);

		json_object_begin(j);
		json_kv_u64(j, "bytes", g[i].bytes);
		json_kv_u64(j, "allocs", g[i].allocs);
		json_kv_string(j, "allocator", ht_kalloc_name(g[i].kind));
		if (cache)
			json_kv_string(j, "cache", cache);
		else
			kreport_out_null(j, "cache");
		json_kv_u64(j, "oldest_ns", g[i].oldest_ns);
		json_kv_bool(j, "interrupt", kreport_stack_in_interrupt(kr, g[i].stack_id));
		json_key(j, "call_site");
		if (g[i].call_site)
			kreport_frame(kr, g[i].call_site, kreport_out_json_frame, j);
		else
			json_null(j);
		json_key(j, "frames");
		json_array_begin(j);
		if (g[i].stack_id)
			kreport_frames(kr, g[i].stack_id, kreport_out_json_frame, j);
		json_array_end(j);
		json_object_end(j);
	}
	json_array_end(j);
	json_kv_u64(j, "stacks_total", n);
	json_object_end(j);
	free(cs);
	free(g);
}

void kreport_out_hists_text(struct khists *h, struct kreport *kr, FILE *out)
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
		kreport_hists_sort_gfp(h);
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
				kreport_waste_pct(&c->c));
		}
	}
	fprintf(out, "\n");
}

static void kreport_out_hist(struct json *j, const char *name, const char *unit, const char *key,
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

void kreport_out_hists_json(struct khists *h, struct kreport *kr, struct json *j)
{
	for (unsigned k = 1; k < HT_KA_MAX; k++)
		if (h->size[k].total)
			kreport_out_hist(j, "kmem_size", "bytes", "allocator", ht_kalloc_name(k),
					 &h->size[k]);
	for (size_t i = 0; i < h->ncaches; i++)
		if (h->cache_size[i].total)
			kreport_out_hist(j, "kmem_size", "bytes", "cache",
					 kmodel_cache_at(kr->km, i)->name, &h->cache_size[i]);
	kreport_out_hist(j, "kmem_lifetime", "ns", NULL, NULL, &h->lifetime);
	kreport_out_hist(j, "page_order", "order", NULL, NULL, &h->order);
	kreport_hists_sort_gfp(h);
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

void kreport_out_waste_json(struct kreport *kr, struct json *j)
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
		json_double(j, kreport_waste_pct(&c->c));
		json_object_end(j);
	}
	json_array_end(j);
}
