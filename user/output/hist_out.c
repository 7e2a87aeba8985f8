// SPDX-License-Identifier: GPL-2.0-only
/* Histograms as bcc's tools print them, and as the JSON contract has them. */
#include <inttypes.h>
#include "output/hist_out.h"

#define BAR_WIDTH 40

void hist_out_text(FILE *out, const struct hist *h, const char *unit)
{
	size_t first = 0, last = 0;
	uint64_t peak = 0;

	for (size_t i = 0; i < h->nbuckets; i++) {
		if (!h->counts[i])
			continue;
		if (!peak)
			first = i;
		last = i;
		if (h->counts[i] > peak)
			peak = h->counts[i];
	}
	fprintf(out, "     %-19s : count    distribution\n", unit);
	if (!peak) {
		fprintf(out, "     (empty)\n");
		return;
	}
	for (size_t i = first; i <= last; i++) {
		uint64_t lo, hi;
		int bar = (int)(h->counts[i] * BAR_WIDTH / peak);

		hist_bucket(h, i, &lo, &hi);
		fprintf(out, "%10" PRIu64 " -> %-10" PRIu64 " : %-8" PRIu64 " |%-*.*s|\n", lo,
			hi - 1, h->counts[i], BAR_WIDTH, bar,
			"****************************************");
	}
	fprintf(out, "     count %" PRIu64 ", mean %.1f, min %" PRIu64 ", max %" PRIu64 "\n",
		h->total, (double)h->sum / (double)h->total, h->min, h->max);
}

void hist_out_json(struct json *j, const struct hist *h)
{
	json_key(j, "buckets");
	json_array_begin(j);
	for (size_t i = 0; i < h->nbuckets; i++) {
		uint64_t lo, hi;

		if (!h->counts[i])
			continue;
		hist_bucket(h, i, &lo, &hi);
		json_object_begin(j);
		json_kv_u64(j, "lo", lo);
		json_kv_u64(j, "hi", hi);
		json_kv_u64(j, "count", h->counts[i]);
		json_object_end(j);
	}
	json_array_end(j);
	json_kv_u64(j, "total", h->total);
	json_kv_u64(j, "sum", h->sum);
	if (h->total) {
		json_kv_u64(j, "min", h->min);
		json_kv_u64(j, "max", h->max);
	}
}
