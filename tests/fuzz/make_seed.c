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
	static const char ksyms[] = "ffffffff81000000 T _stext\nffffffff81000100 t helper\n";
	struct {
		struct ht_maps m;
		char text[sizeof(ksyms) - 1];
	} ks = { .m = { .hdr = { HT_REC_KSYMS, HT_KSYMS_HDR_SIZE + sizeof(ksyms) - 1, 0, 8, 0, 0 },
			.len = sizeof(ksyms) - 1 } };
	struct ht_kmem ka = { .hdr = { HT_REC_KMEM, sizeof(ka), 0, 16, 1, 1 },
			      .kind = HT_KA_CACHE,
			      .op = HT_KOP_ALLOC,
			      .ptr = 0xffff888000001000,
			      .call_site = 0xffffffff81000110,
			      .bytes_req = 100,
			      .bytes_alloc = 128,
			      .gfp_flags = 0xcc0,
			      .cache_name = "filp" };
	struct ht_kmem kf = { .hdr = { HT_REC_KMEM, sizeof(kf), 0, 17, 1, 1 },
			      .kind = HT_KA_KMALLOC,
			      .op = HT_KOP_FREE,
			      .ptr = 0xffff888000001000 };

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
	memcpy(ks.text, ksyms, sizeof(ks.text));
	recfile_write(w, &ks.m.hdr);
	recfile_write(w, &ka.hdr);
	recfile_write(w, &kf.hdr);
	return recfile_close(w) ? 1 : 0;
}
