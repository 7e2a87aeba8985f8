/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Each process's address space and how its memory evolved: the VMA map rebuilt from a maps
 * snapshot (the first MAPS records after exec, fork or attach) and every memory syscall after
 * it, with series of heap, live, mapped and resident bytes and faults, faults by the kind of
 * mapping they hit, and markers for large moves. It reads records only: live and recorded
 * input give the same answer, since the source sends the same MAPS snapshots either way.
 */
#ifndef HT_SPACE_H
#define HT_SPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "heaptrail.h"
#include "model/model.h"
#include "model/series.h"
#include "model/vma.h"
#include "util/textbuf.h"

enum space_series {
	SPACE_HEAP,
	SPACE_LIVE,
	SPACE_MAPPED,
	SPACE_ALLOC_MAPPED,
	SPACE_RSS_ANON,
	SPACE_RSS_FILE,
	SPACE_RSS_SHMEM,
	SPACE_RSS_SWAP,
	SPACE_LIVE_ALLOCS,
	SPACE_FAULTS,
	SPACE_SERIES_MAX
};

/* The series' names as the JSON contract has them, and their units ("bytes", "count"). */
extern const char *const space_series_names[SPACE_SERIES_MAX];
extern const char *const space_series_units[SPACE_SERIES_MAX];

/* A moment worth a marker: a large mmap or munmap, a brk move. */
struct space_marker {
	uint64_t ts_ns;
	uint64_t bytes;
	char label[64];
};

/* Markers are made for mappings of at least this many bytes. */
#define SPACE_MARKER_MIN_BYTES (256u << 10)

struct space_proc {
	const struct model_proc *p;
	struct vma_map vmas;
	bool loaded;	    /* the starting snapshot was applied */
	uint64_t brk_start; /* 0: not known yet */
	uint64_t faults;
	uint64_t first_touch; /* faults on pages not present yet: memory made real */
	uint64_t faults_by_kind[VMA_SPECIAL + 2][2]; /* VMA kind (+1: none), read/write */
	struct series s[SPACE_SERIES_MAX];
	uint64_t now[SPACE_SERIES_MAX]; /* each series' last value */
	bool now_only;			/* space_now_only(): no series, markers nor tids */
	struct space_marker *markers;
	size_t nmarkers;
	uint32_t *tids;
	size_t ntids;
	/*
	 * The last maps snapshot (chunks appended while they come): the start when not loaded
	 * yet, otherwise where a new mapping's file path or a segment's size is found.
	 */
	struct textbuf snap;
	bool snap_open;
	uint64_t snap_last; /* start address of the snapshot's last line */
};

struct space;

/*
 * Reads the processes of m (which the caller feeds the same records first), and forgets those
 * m forgets (it takes one of m's hooks).
 */
struct space *space_new(struct model *m);
void space_free(struct space *s);
/*
 * Keeps only each quantity's current value (space_proc.now), no series, markers nor threads:
 * for an agent that runs for days (serve). Call before the first record.
 */
void space_now_only(struct space *s);
/* One record, after model_apply() had it. */
void space_apply(struct space *s, const struct ht_hdr *rec);
/* The end of the input: a snapshot still open is taken in. */
void space_finish(struct space *s);
size_t space_nprocs(const struct space *s);
/* In the order the processes were first seen. */
const struct space_proc *space_proc(const struct space *s, size_t i);
/* The same of process p; NULL when none was seen. */
const struct space_proc *space_proc_find(const struct space *s, const struct model_proc *p);

#endif
