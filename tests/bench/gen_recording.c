// SPDX-License-Identifier: GPL-2.0-only
/*
 * Writes a large recording for the replay benchmark: N (default 20,000,000) malloc/free records
 * of one process, the churn workload's pattern over 1,024 slots, through the real writer.
 * Usage: gen_recording FILE [N]
 */
#include <stdlib.h>
#include "bench.h"
#include "source/file/recfile.h"

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 20000000;
	uint64_t seed = 42, slot[1024] = { 0 }, next = 0x10000;
	struct ht_stack st = { .hdr = { HT_REC_STACK, HT_STACK_HDR_SIZE + 16, 0, 1, 100, 100 },
			       .stack_id = 7,
			       .nframes = 2,
			       .frames = { 0x401000, 0x402000 } };
	struct recfile_writer *w;

	if (argc < 2)
		return 2;
	w = recfile_create(argv[1], "{\"format\":\"heaptrail recording\",\"synthetic\":true}");
	if (!w || recfile_write(w, &st.hdr))
		return 1;
	for (long i = 0; i < n; i++) {
		uint64_t r = bench_rand(&seed);
		unsigned s = (unsigned)(r % 1024);
		struct ht_alloc a = { .hdr = { HT_REC_ALLOC, sizeof(a), 0, (uint64_t)i + 2, 100,
					       100 } };

		if (slot[s]) {
			a.fn = HT_FN_FREE;
			a.args[0] = slot[s];
			slot[s] = 0;
		} else {
			a.fn = HT_FN_MALLOC;
			a.args[0] = 16 + (r >> 16) % 4097;
			a.addr = a.ret = slot[s] = next;
			a.stack_id = 7;
			next += 4160;
		}
		if (recfile_write(w, &a.hdr))
			return 1;
	}
	return recfile_close(w) ? 1 : 0;
}
