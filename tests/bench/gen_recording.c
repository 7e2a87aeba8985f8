// SPDX-License-Identifier: GPL-2.0-only
/*
 * Writes a large recording for the replay benchmark: N (default 20,000,000) malloc/free records
 * of one process, the churn workload's pattern over 1,024 slots, through the real writer. With
 * STACKS (default 1) the allocations come from that many stacks of 16 frames, drawn from a
 * small pool so that they share callers as a program's do (the HTML page's benchmark).
 * Usage: gen_recording FILE [N [STACKS]]
 */
#include <stdlib.h>
#include "bench.h"
#include "source/file/recfile.h"

#define GEN_DEPTH 16

/*
 * Stack k's record (id 7 + k): 16 frames, leaf first, each level's from a pool of 1 + 4 x level
 * addresses, so that stacks share their callers near the root. 0, or -1 when it cannot write.
 */
static int gen_stack(struct recfile_writer *w, unsigned k, unsigned nstacks)
{
	struct ht_stack st = { .hdr = { HT_REC_STACK, HT_STACK_HDR_SIZE + 8 * GEN_DEPTH, 0, 1, 100,
					100 },
			       .stack_id = 7 + k,
			       .nframes = GEN_DEPTH };
	uint64_t seed = 1 + k;

	if (nstacks == 1) {
		st.hdr.size = HT_STACK_HDR_SIZE + 16;
		st.nframes = 2;
		st.frames[0] = 0x401000;
		st.frames[1] = 0x402000;
		return recfile_write(w, &st.hdr);
	}
	/* the root levels vary least: stacks share their outer callers */
	for (unsigned d = 0; d < GEN_DEPTH; d++) {
		unsigned level = GEN_DEPTH - 1 - d, fanout = 1 + level * 4;

		st.frames[d] = 0x400000 + level * 0x10000 + (bench_rand(&seed) % fanout) * 0x40;
	}
	return recfile_write(w, &st.hdr);
}

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 20000000;
	unsigned nstacks = argc > 3 ? (unsigned)atol(argv[3]) : 1;
	uint64_t seed = 42, slot[1024] = { 0 }, next = 0x10000;
	struct recfile_writer *w;

	if (argc < 2 || !nstacks)
		return 2;
	w = recfile_create(argv[1], "{\"format\":\"heaptrail recording\",\"synthetic\":true}");
	if (!w)
		return 1;
	for (unsigned k = 0; k < nstacks; k++)
		if (gen_stack(w, k, nstacks))
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
			a.stack_id = 7 + (r >> 40) % nstacks;
			next += 4160;
		}
		if (recfile_write(w, &a.hdr))
			return 1;
	}
	return recfile_close(w) ? 1 : 0;
}
