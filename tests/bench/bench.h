/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the benchmark workloads: a fixed-seed generator and the one line each prints, the
 * time of its measured loop only (start-up, attach and teardown excluded).
 */
#ifndef HT_BENCH_H
#define HT_BENCH_H

#include <stdint.h>
#include <stdio.h>
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

static inline void bench_report(const char *name, uint64_t ops, uint64_t ns)
{
	printf("bench %s ops=%llu ns=%llu ns_per_op=%.1f\n", name, (unsigned long long)ops,
	       (unsigned long long)ns, (double)ns / (double)ops);
	fflush(stdout);
}

#endif
