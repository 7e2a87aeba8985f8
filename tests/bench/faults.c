// SPDX-License-Identifier: GPL-2.0-only
/* Page-fault pass: touches every page of 1 GiB (default) of fresh anonymous memory once. */
#include <stdlib.h>
#include <sys/mman.h>
#include "bench.h"

int main(int argc, char **argv)
{
	size_t bytes = (argc > 1 ? (size_t)atol(argv[1]) : 1024) << 20;
	uint64_t t0 = bench_now_ns();
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 1;
	for (size_t off = 0; off < bytes; off += 4096)
		p[off] = 1;
	munmap(p, bytes);
	bench_report("faults", bytes / 4096, bench_now_ns() - t0);
	return 0;
}
