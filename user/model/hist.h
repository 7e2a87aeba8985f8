/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Histograms: log2 buckets ([0,1), [1,2), [2,4), ... as bcc's tools print them) or linear ones
 * (--linear STEP), with count, sum, min and max. Their text and JSON forms: output/hist_out.h.
 */
#ifndef HT_HIST_H
#define HT_HIST_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

struct hist {
	uint64_t step; /* 0: log2 buckets */
	uint64_t *counts;
	size_t nbuckets;
	uint64_t total, sum, min, max;
};

void hist_init(struct hist *h, uint64_t step);
void hist_free(struct hist *h);
void hist_add(struct hist *h, uint64_t value);
/* n of value at once (sampled mode: what one sampled allocation stands for); n may be 0. */
void hist_add_n(struct hist *h, uint64_t value, uint64_t n);
/*
 * Adds counts made elsewhere (BPF) in the log2 buckets of a log2 histogram: counts[k] for
 * bucket k, with their total, sum, min and max.
 */
void hist_merge_log2(struct hist *h, const uint64_t *counts, size_t n, uint64_t total, uint64_t sum,
		     uint64_t min, uint64_t max);
/* Adds histogram o, of the same bucket width, into h. */
void hist_merge(struct hist *h, const struct hist *o);
/* Bucket i covers [lo, hi). */
void hist_bucket(const struct hist *h, size_t i, uint64_t *lo, uint64_t *hi);

#endif
