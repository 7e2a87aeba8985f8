// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: arbitrary bytes as a recording, through the reader, the model and the JSON
 * printer. Crashes found are kept in tests/fuzz/regressions and replayed by make fuzz-smoke.
 */
#include <stdint.h>
#include <stdio.h>
#include "event.h"
#include "kmodel.h"
#include "ksyms.h"
#include "model.h"
#include "recfile.h"

static FILE *sink;

struct fuzz_ctx {
	struct model *m;
	struct kmodel *km;
	struct ksyms *ks;
};

static void apply(void *ctx, const struct ht_hdr *rec)
{
	struct fuzz_ctx *fc_ = ctx;
	struct ht_fmt_ctx fc = { .comm = "fuzz", .ksyms = fc_->ks };
	struct json j;

	model_apply(fc_->m, rec);
	if (rec->type == HT_REC_KMEM)
		kmodel_apply(fc_->km, (const struct ht_kmem *)rec);
	else if (rec->type == HT_REC_KSYMS)
		ksyms_add_text(fc_->ks, ((const struct ht_maps *)rec)->text,
			       ((const struct ht_maps *)rec)->len);
	json_init(&j, sink);
	ht_rec_print_json(&j, rec, &fc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_ctx c = { model_new(), kmodel_new(), ksyms_new() };
	char err[256];

	if (!sink)
		sink = fopen("/dev/null", "w");
	recfile_read_mem(data, size, "fuzz", apply, &c, NULL, err, sizeof(err));
	model_free(c.m);
	kmodel_free(c.km);
	ksyms_free(c.ks);
	return 0;
}
