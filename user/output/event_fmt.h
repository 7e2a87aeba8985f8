/* SPDX-License-Identifier: GPL-2.0-only */
/* The text and JSON forms of one record, as `trace` prints them. */
#ifndef HT_EVENT_FMT_H
#define HT_EVENT_FMT_H

#include <stdint.h>
#include <stdio.h>
#include "heaptrail.h"
#include "output/json.h"

struct ksyms;

/* What a formatter needs beyond the record itself. */
struct event_fmt_ctx {
	const char *comm;
	uint64_t t0_ns;	     /* text timestamps are relative to this */
	struct ksyms *ksyms; /* kernel call sites by name, when given */
};

void event_fmt_json(struct json *j, const struct ht_hdr *rec, const struct event_fmt_ctx *ctx);
void event_fmt_text(FILE *out, const struct ht_hdr *rec, const struct event_fmt_ctx *ctx);

#endif
