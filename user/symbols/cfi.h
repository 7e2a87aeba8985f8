/* SPDX-License-Identifier: GPL-2.0-only */
/* A module's call-frame information compiled into the unwind rows the BPF walk reads. */
#ifndef HT_CFI_H
#define HT_CFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "heaptrail.h"

/* An executable segment of the module, to place its mappings (cfi_bias). */
struct cfi_segment {
	uint64_t vaddr, offset, filesz;
};

#define CFI_MAX_SEGMENTS 8

struct cfi_table {
	struct ht_unwind_row *rows; /* sorted by pc; malloc'ed */
	size_t nrows;
	struct cfi_segment segs[CFI_MAX_SEGMENTS];
	unsigned nsegs;
	/* what -v says about the module */
	const char *source; /* ".eh_frame", ".debug_frame", or NULL: none */
	uint64_t bytes;	    /* code bytes with call-frame information */
	uint64_t bytes_bp;  /* of which the CFA is kept in rbp: code with frame pointers */
};

/*
 * Compiles the call-frame information of the ELF file open at fd (.eh_frame, else .debug_frame)
 * for its executable segments. 0, or -1 when the file is not an ELF file libdw can read (t is
 * then empty). A module without call-frame information gives 0 rows and source NULL.
 */
int cfi_compile(int fd, struct cfi_table *t);
void cfi_table_free(struct cfi_table *t);

/*
 * Whether the module keeps frame pointers: in most of its code with call-frame information the
 * frame is defined by rbp. Builds with frame pointers show nearly all of it (all but prologues
 * and epilogues), -O2 builds without them a few per cent (functions with alloca).
 */
bool cfi_has_frame_pointers(const struct cfi_table *t);

/*
 * The bias of a mapping at start with file offset off of a module with these executable
 * segments (addresses minus bias are link-time addresses). false when none holds that offset.
 */
bool cfi_bias(const struct cfi_segment *segs, unsigned nsegs, uint64_t start, uint64_t off,
	      uint64_t *bias);

#endif
