// SPDX-License-Identifier: GPL-2.0-only
/* Histogram buckets and statistics. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "model/hist.h"

void hist_init(struct hist *h, uint64_t step)
{
	memset(h, 0, sizeof(*h));
	h->step = step;
	h->min = UINT64_MAX;
}

void hist_free(struct hist *h)
{
	free(h->counts);
	h->counts = NULL;
	h->nbuckets = 0;
}

static size_t bucket_of(const struct hist *h, uint64_t v)
{
	if (h->step)
		return (size_t)(v / h->step);
	return v ? 64 - (size_t)__builtin_clzll(v) : 0; /* [2^(k-1), 2^k) is bucket k */
}

void hist_bucket(const struct hist *h, size_t i, uint64_t *lo, uint64_t *hi)
{
	if (h->step) {
		*lo = i * h->step;
		*hi = (i + 1) * h->step;
	} else {
		*lo = i ? 1ull << (i - 1) : 0;
		*hi = i == 0 ? 1 : i >= 64 ? UINT64_MAX : 1ull << i;
	}
}

/* Makes room for buckets [0, n): 0, or -1 when memory is short. */
static int grow(struct hist *h, size_t n)
{
	uint64_t *c;

	if (n <= h->nbuckets)
		return 0;
	c = realloc(h->counts, n * sizeof(*c));
	if (!c)
		return -1;
	memset(c + h->nbuckets, 0, (n - h->nbuckets) * sizeof(*c));
	h->counts = c;
	h->nbuckets = n;
	return 0;
}

static void add_stats(struct hist *h, uint64_t total, uint64_t sum, uint64_t min, uint64_t max)
{
	h->total += total;
	h->sum += sum;
	if (min < h->min)
		h->min = min;
	if (max > h->max)
		h->max = max;
}

void hist_add_n(struct hist *h, uint64_t v, uint64_t n)
{
	size_t b = bucket_of(h, v);

	if (!n)
		return;
	/* linear buckets grow with the data: past a million, the last one takes the rest */
	if (b >= (1u << 20))
		b = (1u << 20) - 1;
	if (grow(h, b + 1))
		return;
	h->counts[b] += n;
	add_stats(h, n, v * n, v, v);
}

void hist_add(struct hist *h, uint64_t v)
{
	hist_add_n(h, v, 1);
}

void hist_merge(struct hist *h, const struct hist *o)
{
	if (h->step != o->step || !o->total || grow(h, o->nbuckets))
		return;
	for (size_t i = 0; i < o->nbuckets; i++)
		h->counts[i] += o->counts[i];
	add_stats(h, o->total, o->sum, o->min, o->max);
}

void hist_merge_log2(struct hist *h, const uint64_t *counts, size_t n, uint64_t total, uint64_t sum,
		     uint64_t min, uint64_t max)
{
	if (h->step || !total || grow(h, n))
		return;
	for (size_t i = 0; i < n; i++)
		h->counts[i] += counts[i];
	add_stats(h, total, sum, min, max);
}
