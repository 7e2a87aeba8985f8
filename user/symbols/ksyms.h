/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel symbols for kernel stacks and call sites: /proc/kallsyms of the running kernel, or the
 * copy a recording carries (KSYMS records), so that a file is symbolized as it was recorded.
 */
#ifndef HT_KSYMS_H
#define HT_KSYMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "heaptrail.h"

struct ksyms;

struct ksyms *ksyms_new(void);
void ksyms_free(struct ksyms *k);
/* Appends kallsyms text (whole lines; a record may end mid-line, the rest comes next). */
int ksyms_add_text(struct ksyms *k, const char *text, size_t len);
/* Adds the text of a KSYMS record (a recording's kallsyms); other records are ignored. */
void ksyms_follow(struct ksyms *k, const struct ht_hdr *rec);
/* Reads /proc/kallsyms. 0, or -1 when it cannot be read or shows only zero addresses. */
int ksyms_load_proc(struct ksyms *k);
/* Was any text added? */
bool ksyms_empty(const struct ksyms *k);
/*
 * The function containing addr: its name, the offset into it and its module (NULL for the
 * kernel image). NULL when addr is below every symbol or nothing is loaded.
 */
const char *ksyms_lookup(struct ksyms *k, uint64_t addr, uint64_t *off, const char **module);
/* The whole text given so far, for a recording (NULL if none). */
const char *ksyms_text(const struct ksyms *k, size_t *len);

#endif
