// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel allocations: an open-addressing table keyed by (address space, pointer), the slab
 * cache table, and the counters per allocator.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "model/kmodel.h"

struct kmodel {
	struct kmodel_alloc *slots;
	size_t cap, count;
	struct kmodel_counts kinds[HT_KA_MAX];
	struct kmodel_cache *caches;
	size_t ncaches;
	struct kmodel_hooks hooks;
	bool seen;
};

static const char *const kalloc_names[HT_KA_MAX] = {
	[HT_KA_KMALLOC] = "kmalloc", [HT_KA_CACHE] = "kmem_cache", [HT_KA_PAGE] = "page",
	[HT_KA_VMALLOC] = "vmalloc", [HT_KA_PERCPU] = "percpu",
};

const char *ht_kalloc_name(unsigned kind)
{
	return kind < HT_KA_MAX && kalloc_names[kind] ? kalloc_names[kind] : "?";
}

struct kmodel *kmodel_new(void)
{
	return calloc(1, sizeof(struct kmodel));
}

void kmodel_free(struct kmodel *m)
{
	if (!m)
		return;
	free(m->slots);
	free(m->caches);
	free(m);
}

void kmodel_set_hooks(struct kmodel *m, const struct kmodel_hooks *h)
{
	m->hooks = *h;
}

bool kmodel_seen(const struct kmodel *m)
{
	return m->seen;
}

/* kfree frees what kmem_cache_alloc made and the reverse: one space for both. */
static unsigned space_of(unsigned kind)
{
	return kind == HT_KA_KMALLOC ? HT_KA_CACHE : kind;
}

static size_t slot_of(const struct kmodel *m, uint64_t ptr, unsigned space)
{
	uint64_t h = (ptr ^ ((uint64_t)space << 58)) * 0x9e3779b97f4a7c15ull;

	return (size_t)(h >> 20) & (m->cap - 1);
}

static struct kmodel_alloc *find(struct kmodel *m, uint64_t ptr, unsigned space)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(m, ptr, space);; i = (i + 1) & (m->cap - 1)) {
		struct kmodel_alloc *a = &m->slots[i];

		if (!a->ptr)
			return NULL;
		if (a->ptr == ptr && space_of(a->kind) == space)
			return a;
	}
}

static int grow(struct kmodel *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 1024;
	struct kmodel_alloc *old = m->slots, *n = calloc(ncap, sizeof(*n));
	size_t ocap = m->cap;

	if (!n)
		return -1;
	m->slots = n;
	m->cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		size_t j;

		if (!old[i].ptr)
			continue;
		for (j = slot_of(m, old[i].ptr, space_of(old[i].kind)); n[j].ptr;
		     j = (j + 1) & (ncap - 1))
			;
		n[j] = old[i];
	}
	free(old);
	return 0;
}

/* Backward-shift deletion keeps probe chains whole without tombstones. */
static void remove_slot(struct kmodel *m, struct kmodel_alloc *a)
{
	size_t i = (size_t)(a - m->slots), j = i;

	for (;;) {
		size_t k;

		m->slots[i].ptr = 0;
		for (;;) {
			j = (j + 1) & (m->cap - 1);
			if (!m->slots[j].ptr)
				goto done;
			k = slot_of(m, m->slots[j].ptr, space_of(m->slots[j].kind));
			/* move j back to i unless its home lies cyclically in (i, j] */
			if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
				continue;
			break;
		}
		m->slots[i] = m->slots[j];
		i = j;
	}
done:
	m->count--;
}

static uint16_t cache_index(struct kmodel *m, const struct ht_kmem *r)
{
	char name[sizeof(m->caches[0].name)];
	struct kmodel_cache *n;

	if (r->kind == HT_KA_CACHE && r->cache_name[0])
		snprintf(name, sizeof(name), "%.*s", HT_KCACHE_LEN, r->cache_name);
	else if (r->kind == HT_KA_KMALLOC)
		snprintf(name, sizeof(name), "kmalloc-%llu", (unsigned long long)r->bytes_alloc);
	else
		return KMODEL_NO_CACHE;
	for (size_t i = 0; i < m->ncaches; i++)
		if (!strcmp(m->caches[i].name, name))
			return (uint16_t)i;
	if (m->ncaches >= KMODEL_NO_CACHE)
		return KMODEL_NO_CACHE;
	n = realloc(m->caches, (m->ncaches + 1) * sizeof(*n));
	if (!n)
		return KMODEL_NO_CACHE;
	m->caches = n;
	memset(&n[m->ncaches], 0, sizeof(*n));
	memcpy(n[m->ncaches].name, name, sizeof(name));
	return (uint16_t)m->ncaches++;
}

/* The counts an allocation goes into: its allocator's, and its cache's when it has one. */
static size_t counts_of(struct kmodel *m, unsigned kind, uint16_t cache,
			struct kmodel_counts *cs[2])
{
	cs[0] = &m->kinds[kind];
	cs[1] = cache != KMODEL_NO_CACHE ? &m->caches[cache].c : NULL;
	return cs[1] ? 2 : 1;
}

static void count_free(struct kmodel *m, const struct kmodel_alloc *a)
{
	struct kmodel_counts *cs[2];

	for (size_t i = 0, n = counts_of(m, a->kind, a->cache, cs); i < n; i++) {
		cs[i]->live_allocs--;
		cs[i]->live_bytes -= a->bytes_alloc;
	}
}

/* The old allocation at a reused address lost its free: dropped, counted, not a leak. */
static void drop_missed(struct kmodel *m, const struct ht_kmem *r)
{
	struct kmodel_alloc *a = find(m, r->ptr, space_of(r->kind));
	struct kmodel_counts *cs[2];

	if (!a)
		return;
	for (size_t i = 0, n = counts_of(m, a->kind, a->cache, cs); i < n; i++)
		cs[i]->missed_frees++;
	count_free(m, a);
	remove_slot(m, a);
}

static void apply_alloc(struct kmodel *m, const struct ht_kmem *r)
{
	struct kmodel_alloc n = {
		.ptr = r->ptr,
		.bytes_req = r->bytes_req,
		.bytes_alloc = r->bytes_alloc,
		.ts_ns = r->hdr.ts_ns,
		.gfp_flags = r->gfp_flags,
		.call_site = r->call_site,
		.stack_id = r->stack_id,
		.pid = r->hdr.pid,
		.kind = r->kind,
		.order = (uint8_t)r->order,
	};
	struct kmodel_counts *cs[2];
	bool keep = !(r->hdr.flags & HT_F_KMEM_UNTRACKED);
	size_t ncs;

	n.cache = cache_index(m, r);
	ncs = counts_of(m, r->kind, n.cache, cs);
	drop_missed(m, r); /* its free went unseen: not a leak */
	for (size_t i = 0; i < ncs; i++) {
		cs[i]->allocs++;
		cs[i]->bytes_req += n.bytes_req;
		cs[i]->bytes_alloc += n.bytes_alloc;
		if (keep) {
			cs[i]->live_allocs++;
			cs[i]->live_bytes += n.bytes_alloc;
		} else {
			cs[i]->untracked++;
		}
	}
	if (m->hooks.alloc)
		m->hooks.alloc(m->hooks.ctx, &n);
	if (!keep)
		return;
	if ((m->count + 1) * 4 > m->cap * 3 && grow(m))
		return;
	{
		size_t i = slot_of(m, n.ptr, space_of(n.kind));

		while (m->slots[i].ptr)
			i = (i + 1) & (m->cap - 1);
		m->slots[i] = n;
		m->count++;
	}
}

void kmodel_skip_interrupt(struct kmodel *m, const struct ht_kmem *r)
{
	struct kmodel_counts *cs[2];
	size_t ncs = counts_of(m, r->kind, cache_index(m, r), cs);

	m->seen = true;
	drop_missed(m, r);
	for (size_t i = 0; i < ncs; i++)
		cs[i]->interrupt_skipped++;
}

static void apply_free(struct kmodel *m, const struct ht_kmem *r)
{
	struct kmodel_alloc *a = find(m, r->ptr, space_of(r->kind));
	struct kmodel_counts *cs[2];

	/* BPF sends only frees of allocations it saw; one missing here was replaced above */
	if (!a)
		return;
	for (size_t i = 0, n = counts_of(m, a->kind, a->cache, cs); i < n; i++)
		cs[i]->frees++;
	count_free(m, a);
	if (m->hooks.free)
		m->hooks.free(m->hooks.ctx, a, r->hdr.ts_ns);
	remove_slot(m, a);
}

void kmodel_apply(struct kmodel *m, const struct ht_kmem *rec)
{
	m->seen = true;
	if (rec->op == HT_KOP_ALLOC)
		apply_alloc(m, rec);
	else
		apply_free(m, rec);
}

const struct kmodel_counts *kmodel_kind_counts(const struct kmodel *m, unsigned kind)
{
	return kind < HT_KA_MAX ? &m->kinds[kind] : NULL;
}

size_t kmodel_ncaches(const struct kmodel *m)
{
	return m->ncaches;
}

const struct kmodel_cache *kmodel_cache_at(const struct kmodel *m, size_t i)
{
	return i < m->ncaches ? &m->caches[i] : NULL;
}

const struct kmodel_alloc *kmodel_next(const struct kmodel *m, size_t *pos)
{
	for (; *pos < m->cap; (*pos)++)
		if (m->slots[*pos].ptr)
			return &m->slots[(*pos)++];
	return NULL;
}
