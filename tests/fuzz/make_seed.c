// SPDX-License-Identifier: GPL-2.0-only
/*
 * Writes a small valid recording with one record of most types, the fuzzer's seed, and with a
 * second path the same records as one raw block ('R' and the block's content, uncompressed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "source/file/recfile.h"

/* The first block of the recording at path, decompressed, after an 'R'. */
static int write_raw_seed(const char *path, const char *out)
{
	static uint8_t file[1 << 16], raw[RECFILE_BLOCK_RAW_MAX];
	struct recfile_header h;
	struct recfile_block b;
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(file, 1, sizeof(file), f) : 0, off, z;

	if (f)
		fclose(f);
	if (n < sizeof(h))
		return 1;
	memcpy(&h, file, sizeof(h));
	off = sizeof(h) + h.meta_len;
	if (n < off + sizeof(b))
		return 1;
	memcpy(&b, file + off, sizeof(b));
	if (n < off + sizeof(b) + b.zsize)
		return 1;
	z = ZSTD_decompress(raw, sizeof(raw), file + off + sizeof(b), b.zsize);
	f = fopen(out, "wb");
	if (ZSTD_isError(z) || !f || fputc('R', f) == EOF || fwrite(raw, 1, z, f) != z) {
		if (f)
			fclose(f);
		return 1;
	}
	return fclose(f) ? 1 : 0;
}

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
	struct ht_comm cm = { .hdr = { HT_REC_COMM, sizeof(cm), 0, 9, 1, 1 },
			      .comm = "seed",
			      .ns_pid = 1 };
	struct ht_build_id bi = { .hdr = { HT_REC_BUILD_ID, sizeof(bi), 0, 9, 0, 0 },
				  .inode = 1234,
				  .dev_major = 8,
				  .dev_minor = 1,
				  .len = 20,
				  .id = { 0xde, 0xad, 0xbe, 0xef } };
	static const char ksyms[] = "ffffffff81000000 T _stext\nffffffff81000100 t helper\n";
	static const char slabs[] = "filp :A-0000256\nbio-184 :A-0000256\n";
	struct {
		struct ht_maps m;
		char text[sizeof(slabs) - 1];
	} sl = { .m = { .hdr = { HT_REC_SLABS, HT_MAPS_HDR_SIZE + sizeof(slabs) - 1, 0, 8, 0, 0 },
			.len = sizeof(slabs) - 1 } };
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

	if (argc != 2 && argc != 3)
		return 2;
	w = recfile_create(argv[1], "{\"format\":\"heaptrail recording\"}");
	if (!w)
		return 1;
	recfile_write(w, &cm.hdr);
	recfile_write(w, &bi.hdr);
	recfile_write(w, &st.hdr);
	recfile_write(w, &a.hdr);
	recfile_write(w, &s.hdr);
	recfile_write(w, &fk.hdr);
	recfile_write(w, &f.hdr);
	recfile_write(w, &ex.hdr);
	recfile_write(w, &lo.hdr);
	memcpy(ks.text, ksyms, sizeof(ks.text));
	recfile_write(w, &ks.m.hdr);
	memcpy(sl.text, slabs, sizeof(sl.text));
	recfile_write(w, &sl.m.hdr);
	recfile_write(w, &ka.hdr);
	recfile_write(w, &kf.hdr);
	if (recfile_close(w))
		return 1;
	return argc == 3 ? write_raw_seed(argv[1], argv[2]) : 0;
}
