// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sampled mode (--sample-bytes) in the live source: the gaps BPF draws between samples, the
 * sampling record that opens the stream, the processes' totals read from BPF (at reports and at
 * the end), and the sweep of what ended process images left in BPF's table of live blocks.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "source/live/tracer_int.h"
#include "util/vec.h"
#include "util/say.h"

#define SAMPLE_TABLE_DEFAULT (1u << 18)		 /* ~24 MiB of kernel memory, preallocated */
#define SAMPLE_SWEEP_NS	     (2000 * 1000000ull) /* at most this often */
#define SAMPLE_TOTALS_MS     50			 /* sample_report_often */
#define SAMPLE_BATCH	     4096u

/*
 * The gaps: the midpoints of HT_SAMPLE_GAPS equal slices of the exponential distribution of
 * mean N, scaled so that their mean is N exactly (the slices' midpoints alone fall short by the
 * tail they leave out, ~0.1%). An allocation is then sampled with a chance within 1/4096 of
 * 1 - exp(-size / N), what reports divide by.
 */
static void sample_gaps_fill(uint64_t *gaps, uint64_t n)
{
	double sum = 0, q[HT_SAMPLE_GAPS];

	for (int i = 0; i < HT_SAMPLE_GAPS; i++) {
		q[i] = -log(((double)i + 0.5) / HT_SAMPLE_GAPS);
		sum += q[i];
	}
	for (int i = 0; i < HT_SAMPLE_GAPS; i++) {
		double g = q[i] * (double)n * HT_SAMPLE_GAPS / sum;

		gaps[i] = g < 1 ? 1 : (uint64_t)llround(g);
	}
}

int sample_prepare(struct tracer *t)
{
	const struct tracer_opts *o = &t->opts;
	unsigned rows = o->sample_table_size ? o->sample_table_size : SAMPLE_TABLE_DEFAULT;

	if (!o->sample_bytes) {
		/* unused: the smallest the kernel takes (not preallocated either way) */
		bpf_map__set_max_entries(t->skel->maps.sample_live, 1);
		bpf_map__set_max_entries(t->skel->maps.sample_procs, 1);
		return 0;
	}
	t->skel->rodata->sample_bytes = o->sample_bytes;
	sample_gaps_fill((uint64_t *)t->skel->rodata->sample_gaps, o->sample_bytes);
	if (bpf_map__set_max_entries(t->skel->maps.sample_live, rows)) {
		say("--sample-table-size %u: %s", rows, strerror(errno));
		return -1;
	}
	return 0;
}

/* The first record of a sampled stream: what the model scales by. */
void sample_announce(struct tracer *t)
{
	struct ht_sampling rec = { .hdr = { .type = HT_REC_SAMPLING, .size = sizeof(rec) } };

	if (!t->opts.sample_bytes)
		return;
	rec.hdr.ts_ns = tracer_now_ns();
	rec.sample_bytes = t->opts.sample_bytes;
	t->cb(t->cb_ctx, &rec.hdr);
}

/*
 * Calls fn for every image in sample_procs as it is now (one that ends meanwhile is left out:
 * its last totals are in the ring); stops at fn's first non-zero answer and returns it.
 */
static int sample_procs_each(struct tracer *t,
			     int (*fn)(void *ctx, __u32 tgid, const struct ht_sample_proc *sp),
			     void *ctx)
{
	int fd = bpf_map__fd(t->skel->maps.sample_procs), err = 0;
	__u32 key, next, *prev = NULL;

	while (!err && !bpf_map_get_next_key(fd, prev, &next)) {
		struct ht_sample_proc sp;

		key = next;
		prev = &key;
		if (!bpf_map_lookup_elem(fd, &key, &sp))
			err = fn(ctx, key, &sp);
	}
	return err;
}

static int sample_report_one(void *ctx, __u32 tgid, const struct ht_sample_proc *sp)
{
	struct tracer *t = ctx;
	struct ht_totals rec = { .hdr = { .type = HT_REC_TOTALS, .size = sizeof(rec) } };

	rec.hdr.ts_ns = tracer_now_ns();
	rec.hdr.pid = rec.hdr.tid = tgid;
	rec.gen = sp->gen;
	rec.c = sp->c;
	t->cb(t->cb_ctx, &rec.hdr);
	return 0;
}

/* Every traced image's totals as they are now, as records (those that ended sent theirs). */
void sample_report(struct tracer *t)
{
	if (t->opts.sample_bytes)
		sample_procs_each(t, sample_report_one, t);
}

/*
 * Sampled mode for the timeline (and a recording, which may become one): the totals every
 * SAMPLE_TOTALS_MS, the live series' resolution, for two syscalls a process each time.
 */
void sample_report_often(struct tracer *t)
{
	uint64_t now = tracer_now_ns();

	if (!t->opts.sample_bytes || !t->opts.sample_totals_often || now < t->sample_totals_next_ns)
		return;
	t->sample_totals_next_ns = now + SAMPLE_TOTALS_MS * 1000000ull;
	sample_report(t);
}

struct sample_gens {
	uint64_t *v;
	size_t n, cap;
};

/* An image's generation and its parent's: blocks of both are still wanted. */
static int sample_gens_add(void *ctx, __u32 tgid, const struct ht_sample_proc *sp)
{
	struct sample_gens *g = ctx;

	(void)tgid;
	while (g->n + 2 > g->cap)
		if (!vec_room((void **)&g->v, g->cap, &g->cap, sizeof(*g->v), 64))
			return -1;
	g->v[g->n++] = sp->gen;
	g->v[g->n++] = sp->parent_gen;
	return 0;
}

static int sample_u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Deletes the live blocks of images that ended: their generation is neither an image's in
 * sample_procs nor the parent's of one (a child frees what it inherited from there). The blocks
 * are listed before the images, so that an image made meanwhile, whose generation is not
 * listed, has no block listed yet either. Runs when an image ended since the last sweep, at
 * most every SAMPLE_SWEEP_NS: it reads the whole table.
 */
void sample_sweep(struct tracer *t)
{
	int live_fd;
	struct ht_sample_key *keys = NULL, batch_keys[SAMPLE_BATCH];
	struct ht_sample_live batch_vals[SAMPLE_BATCH];
	size_t nkeys = 0, keys_cap = 0, ndead = 0;
	struct sample_gens gens = { 0 };
	uint64_t now = tracer_now_ns();
	struct ht_sample_key out;
	void *in = NULL;

	if (!t->opts.sample_bytes || !t->sample_ended || now < t->sample_sweep_next_ns)
		return;
	t->sample_ended = false;
	t->sample_sweep_next_ns = now + SAMPLE_SWEEP_NS;
	live_fd = bpf_map__fd(t->skel->maps.sample_live);
	for (;;) {
		__u32 count = SAMPLE_BATCH;
		int err = bpf_map_lookup_batch(live_fd, in, &out, batch_keys, batch_vals, &count,
					       NULL);

		if (err && errno != ENOENT)
			goto out;
		while (nkeys + count > keys_cap)
			if (!vec_room((void **)&keys, keys_cap, &keys_cap, sizeof(*keys),
				      SAMPLE_BATCH))
				goto out;
		memcpy(keys + nkeys, batch_keys, count * sizeof(*keys));
		nkeys += count;
		if (err)
			break; /* ENOENT: the end */
		in = &out;
	}
	if (sample_procs_each(t, sample_gens_add, &gens))
		goto out;
	if (gens.n)
		qsort(gens.v, gens.n, sizeof(*gens.v), sample_u64_cmp);
	for (size_t i = 0; i < nkeys; i++)
		if (!gens.n ||
		    !bsearch(&keys[i].gen, gens.v, gens.n, sizeof(*gens.v), sample_u64_cmp))
			keys[ndead++] = keys[i];
	for (size_t i = 0; i < ndead; i += SAMPLE_BATCH) {
		__u32 count = ndead - i < SAMPLE_BATCH ? (__u32)(ndead - i) : SAMPLE_BATCH;

		bpf_map_delete_batch(live_fd, keys + i, &count, NULL);
	}
	t->sample_swept += ndead;
out:
	free(keys);
	free(gens.v);
}
