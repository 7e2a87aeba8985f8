// SPDX-License-Identifier: GPL-2.0-only
/* Writes a small valid recording with one record of most types, the fuzzer's seed. */
#include <string.h>
#include "recfile.h"

int main(int argc, char **argv)
{
	struct recfile_writer *w;
	struct ht_alloc a = { .hdr = { HT_REC_ALLOC, sizeof(a), 0, 10, 1, 1 },
			      .fn = HT_FN_MALLOC,
			      .args = { 64 },
			      .addr = 0x1000,
			      .stack_id = 3 };
	struct ht_alloc f = { .hdr = { HT_REC_ALLOC, sizeof(f), 0, 11, 1, 1 },
			      .fn = HT_FN_FREE,
			      .args = { 0x1000 } };
	struct ht_syscall s = { .hdr = { HT_REC_SYSCALL, sizeof(s), 0, 12, 1, 1 },
				.sys = HT_SYS_MMAP,
				.args = { 0, 4096, 3, 0x22, (__u64)-1 },
				.ret = 0x7f0000000000 };
	struct ht_stack st = { .hdr = { HT_REC_STACK, HT_STACK_HDR_SIZE + 16, 0, 9, 1, 1 },
			       .stack_id = 3,
			       .nframes = 2,
			       .frames = { 0x401000, 0x402000 } };
	struct ht_fork fk = { .hdr = { HT_REC_FORK, sizeof(fk), 0, 13, 1, 1 }, .child_pid = 2 };
	struct ht_exit ex = { .hdr = { HT_REC_EXIT, sizeof(ex), 0, 14, 2, 2 } };
	struct ht_lost lo = { .hdr = { HT_REC_LOST, sizeof(lo), 0, 15, 0, 0 }, .count = 1 };

	if (argc != 2)
		return 2;
	w = recfile_create(argv[1], "{\"format\":\"heaptrail recording\"}");
	if (!w)
		return 1;
	recfile_write(w, &st.hdr);
	recfile_write(w, &a.hdr);
	recfile_write(w, &s.hdr);
	recfile_write(w, &fk.hdr);
	recfile_write(w, &f.hdr);
	recfile_write(w, &ex.hdr);
	recfile_write(w, &lo.hdr);
	return recfile_close(w) ? 1 : 0;
}
