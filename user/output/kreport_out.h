/* SPDX-License-Identifier: GPL-2.0-only */
/* The kernel sections of `leaks -k` and `hist -k`, as text and as JSON. */
#ifndef HT_KREPORT_OUT_H
#define HT_KREPORT_OUT_H

#include <stdint.h>
#include <stdio.h>
#include "output/json.h"
#include "report/kreport.h"

/* Outstanding kernel allocations at now: counters per allocator, the largest groups. */
void kreport_out_leaks_text(struct kreport *kr, FILE *out, uint64_t now);
/* The same as the "kernel" object of leaks --json, caches with their merged names. */
void kreport_out_leaks_json(struct kreport *kr, struct json *j, uint64_t now);
void kreport_out_hists_text(struct khists *h, struct kreport *kr, FILE *out);
/* hist -k's histogram objects, into the "histograms" array. */
void kreport_out_hists_json(struct khists *h, struct kreport *kr, struct json *j);
/* "kmem_waste": per cache, what its size classes gave beyond what was asked. */
void kreport_out_waste_json(struct kreport *kr, struct json *j);

#endif
