// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: arbitrary bytes as a recording, through the reader, the model and the JSON
 * printer. Crashes found are kept in tests/fuzz/regressions and replayed by make fuzz-smoke.
 */
#include <stdint.h>
#include <stdio.h>
#include "event.h"
#include "model.h"
#include "recfile.h"

static FILE *sink;

static void apply(void *ctx, const struct ht_hdr *rec)
{
	struct ht_fmt_ctx fc = { .comm = "fuzz" };
	struct json j;

	model_apply(ctx, rec);
	json_init(&j, sink);
	ht_rec_print_json(&j, rec, &fc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *m = model_new();
	char err[256];

	if (!sink)
		sink = fopen("/dev/null", "w");
	recfile_read_mem(data, size, "fuzz", apply, m, NULL, err, sizeof(err));
	model_free(m);
	return 0;
}
