// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: arbitrary bytes as a recording, through the reader, the model and the JSON
 * printer. Crashes found are kept in tests/fuzz/regressions and replayed by make fuzz-smoke.
 */
#include <stdint.h>
#include <stdio.h>
#include "event.h"
#include "kreport.h"
#include "model.h"
#include "recfile.h"

static FILE *sink;

struct fuzz_ctx {
	struct model *m;
	struct kreport kr;
};

static void apply(void *ctx, const struct ht_hdr *rec)
{
	struct fuzz_ctx *fc_ = ctx;
	struct ht_fmt_ctx fc = { .comm = "fuzz", .ksyms = fc_->kr.ks };
	struct json j;

	model_apply(fc_->m, rec);
	kreport_follow(&fc_->kr, rec);
	json_init(&j, sink);
	ht_rec_print_json(&j, rec, &fc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ctx c = { .m = model_new(), .kr = { .km = kmodel_new(), .ks = ksyms_new() } };
	char err[256];

	if (!sink)
		sink = fopen("/dev/null", "w");
	recfile_read_mem(data, size, "fuzz", apply, &c, NULL, err, sizeof(err));
	model_free(c.m);
	kreport_release(&c.kr);
	kmodel_free(c.kr.km);
	ksyms_free(c.kr.ks);
	return 0;
}
