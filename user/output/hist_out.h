/* SPDX-License-Identifier: GPL-2.0-only */
/* The text and JSON forms of a histogram. */
#ifndef HT_HIST_OUT_H
#define HT_HIST_OUT_H

#include <stdio.h>
#include "model/hist.h"
#include "output/json.h"

/* bcc-style: one line per bucket from the first to the last non-empty one. */
void hist_out_text(FILE *out, const struct hist *h, const char *unit);
/* The "buckets" array of the JSON contract (non-empty buckets only), with the statistics. */
void hist_out_json(struct json *j, const struct hist *h);

#endif
