// SPDX-License-Identifier: GPL-2.0-only
/*
 * malloc/free churn: OPS operations (default 1,000,000) over 1,024 slots, each a free if the slot
 * holds a block, else a malloc of 16 to 4112 bytes; fixed seed. With THREADS=2 two threads churn
 * at once, each its own slots, OPS each. Usage: churn [OPS [THREADS]]
 */
#include <pthread.h>
#include <stdlib.h>
#include "bench.h"

#define SLOTS 1024

static long ops = 1000000;

static void *churn(void *arg)
{
	uint64_t seed = 42 + (uintptr_t)arg;
	void *slot[SLOTS] = { 0 };

	for (long i = 0; i < ops; i++)
		bench_churn_step(slot, SLOTS, &seed);
	for (unsigned s = 0; s < SLOTS; s++)
		free(slot[s]);
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = argc > 2 ? atoi(argv[2]) : 1;
	pthread_t th[2];
	uint64_t t0;

	if (argc > 1)
		ops = atol(argv[1]);
	if (threads < 1 || threads > 2)
		return 2;
	t0 = bench_now_ns();
	for (int i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, churn, (void *)(uintptr_t)i);
	for (int i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	bench_report(threads == 1 ? "churn" : "churn_2threads", (uint64_t)(ops * threads),
		     bench_now_ns() - t0);
	return 0;
}
