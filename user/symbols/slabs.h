/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Slab caches the kernel merged: an allocation from a merged cache reports the name of the
 * cache it merged into, so the reports say which other caches share it. From
 * /sys/kernel/slab (each merged name a link to the shared cache), or from a recording's copy
 * (SLABS records).
 */
#ifndef HT_SLABS_H
#define HT_SLABS_H

#include <stdbool.h>
#include <stddef.h>
#include "heaptrail.h"

struct slabs;

struct slabs *slabs_new(void);
void slabs_free(struct slabs *s);
/* Reads /sys/kernel/slab. 0, or -1 when it cannot be read (no SLUB sysfs). */
int slabs_load_sys(struct slabs *s);
/* Adds the text of a SLABS record ("name shared-cache" lines); other records are ignored. */
void slabs_follow(struct slabs *s, const struct ht_hdr *rec);
bool slabs_empty(const struct slabs *s);
/* The text, for a recording (NULL if none). */
const char *slabs_text(const struct slabs *s, size_t *len);
/*
 * Calls fn for each other cache merged with the one named name (they share what name shows),
 * in name order; returns how many.
 */
size_t slabs_merged_with(struct slabs *s, const char *name,
			 void (*fn)(void *ctx, const char *other), void *ctx);

#endif
