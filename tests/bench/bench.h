/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the benchmark workloads: a fixed-seed generator and the one line each prints, the
 * time of its measured loop only (start-up, attach and teardown excluded).
 */
#ifndef HT_BENCH_H
#define HT_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the same sequence on every run. */
static inline uint64_t bench_rand(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return *state * 0x2545f4914f6cdd1dull;
}

/*
 * One step of the malloc/free churn over slots[nslots]: a free if the drawn slot holds a
 * block, else a malloc of 16 to 4112 bytes.
 */
static inline void bench_churn_step(void **slots, unsigned nslots, uint64_t *seed)
{
	uint64_t r = bench_rand(seed);
	unsigned s = (unsigned)(r % nslots);

	if (slots[s]) {
		free(slots[s]);
		slots[s] = NULL;
	} else {
		slots[s] = malloc(16 + (size_t)((r >> 16) % 4097));
	}
}

static inline void bench_report(const char *name, uint64_t ops, uint64_t ns)
{
	printf("bench %s ops=%llu ns=%llu ns_per_op=%.1f\n", name, (unsigned long long)ops,
	       (unsigned long long)ns, (double)ns / (double)ops);
	fflush(stdout);
}

#endif
