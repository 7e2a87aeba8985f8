// SPDX-License-Identifier: GPL-2.0-only
/* mmap/munmap churn: N (default 200,000) anonymous 64 KiB mappings, one page touched, unmapped. */
#include <stdlib.h>
#include <sys/mman.h>
#include "bench.h"

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	uint64_t t0 = bench_now_ns();

	for (long i = 0; i < n; i++) {
		char *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			       0);

		if (p == MAP_FAILED)
			return 1;
		p[0] = 1;
		munmap(p, 65536);
	}
	bench_report("mmap_churn", (uint64_t)n * 2, bench_now_ns() - t0);
	return 0;
}
