// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: arbitrary bytes as a recording, through the reader, every model (processes,
 * address spaces, distributions, kernel allocations) and the JSON printer. Crashes found are kept in tests/fuzz/regressions and replayed by make fuzz-smoke.
 * An input that starts with 'R' is the content of one block instead: it is compressed into a
 * valid file first, so that the record parser (packed records included) sees bytes no zstd
 * checksum would have let through.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "output/event_fmt.h"
#include "record/event.h"
#include "report/kreport.h"
#include "model/dists.h"
#include "model/model.h"
#include "model/space.h"
#include "source/file/recfile.h"
#include "util/say.h"

static FILE *sink;

struct fuzz_ctx {
	struct model *m;
	struct space *space;
	struct dists *dists;
	struct kreport kr;
};

static void apply(void *ctx, const struct ht_hdr *rec)
{
	struct fuzz_ctx *fc_ = ctx;
	struct event_fmt_ctx fc = { .comm = "fuzz", .ksyms = fc_->kr.ks };
	struct json j;

	model_apply(fc_->m, rec);
	space_apply(fc_->space, rec);
	dists_apply(fc_->dists, rec);
	kreport_follow_symbols(&fc_->kr, rec);
	json_init(&j, sink);
	event_fmt_json(&j, rec, &fc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ctx c = { .m = model_new() };
	char err[256];

	c.space = space_new(c.m);
	c.dists = dists_new(c.m, 0, true);
	if (!sink)
		sink = fopen("/dev/null", "w");
	kreport_init(&c.kr, c.m, true);
	if (size > 1 && data[0] == 'R' && size - 1 <= RECFILE_BLOCK_RAW_MAX) {
		struct recfile_header h = { .magic = RECFILE_MAGIC, .version = RECFILE_VERSION };
		struct recfile_block b = { .magic = RECFILE_BLOCK_MAGIC,
					   .raw_size = (uint32_t)(size - 1) };
		size_t cap = sizeof(h) + sizeof(b) + ZSTD_compressBound(size - 1);
		uint8_t *file = malloc(cap);
		size_t z = ZSTD_compress(file + sizeof(h) + sizeof(b), cap - sizeof(h) - sizeof(b),
					 data + 1, size - 1, 1);

		if (!ZSTD_isError(z)) {
			/* records are parsed and handed on before the block's count is compared */
			b.zsize = (uint32_t)z;
			memcpy(file, &h, sizeof(h));
			memcpy(file + sizeof(h), &b, sizeof(b));
			say_capture(err, sizeof(err));
			recfile_read_mem(file, sizeof(h) + sizeof(b) + z, "fuzz", apply, &c, NULL);
			say_capture(NULL, 0);
		}
		free(file);
	} else {
		say_capture(err, sizeof(err));
		recfile_read_mem(data, size, "fuzz", apply, &c, NULL);
		say_capture(NULL, 0);
	}
	space_finish(c.space);
	space_free(c.space);
	dists_free(c.dists);
	model_free(c.m);
	kreport_fini(&c.kr);
	return 0;
}
