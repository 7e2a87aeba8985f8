// SPDX-License-Identifier: GPL-2.0-only
/*
 * churn's malloc/free over 1,024 slots, made DEPTH frames down (default 32) from main by a
 * recursion that is not a tail call: the stack a walk has to climb for every allocation.
 * Built like the other workloads (-O2, so without frame pointers). Usage: deep_churn [OPS [DEPTH]]
 */
#include <stdlib.h>
#include "bench.h"

#define SLOTS 1024

static void *slot[SLOTS];
static uint64_t seed = 42;

__attribute__((noinline)) static void deep_churn_ops(long ops)
{
	for (long i = 0; i < ops; i++)
		bench_churn_step(slot, SLOTS, &seed);
}

__attribute__((noinline)) static long deep_churn_down(int depth, long ops)
{
	volatile long frame[4] = { depth };

	if (depth <= 1)
		deep_churn_ops(ops);
	else
		frame[1] = deep_churn_down(depth - 1, ops);
	return frame[0] + frame[1] * 0; /* used after the call: not a tail call */
}

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 1000000;
	int depth = argc > 2 ? atoi(argv[2]) : 32;
	uint64_t t0;

	t0 = bench_now_ns();
	deep_churn_down(depth, ops);
	bench_report("deep_churn", (uint64_t)ops, bench_now_ns() - t0);
	for (unsigned s = 0; s < SLOTS; s++)
		free(slot[s]);
	return 0;
}
