// SPDX-License-Identifier: GPL-2.0-only
/* realloc growth: ROUNDS (default 20,000) buffers grown by doubling from 16 bytes to 1 MiB. */
#include <stdlib.h>
#include <string.h>
#include "bench.h"

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? atol(argv[1]) : 20000;
	uint64_t t0 = bench_now_ns(), n = 0;

	for (long r = 0; r < rounds; r++) {
		char *p = NULL;

		for (size_t size = 16; size <= (1 << 20); size *= 2, n++) {
			p = realloc(p, size);
			p[size - 1] = 1;
		}
		free(p);
		n++;
	}
	bench_report("realloc_growth", n, bench_now_ns() - t0);
	return 0;
}
