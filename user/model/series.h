/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A series: (ts_ns, value) points of one quantity over time, bounded in size whatever the
 * run's length. It keeps at most one point per `res` ns, starting at 1 us; at SERIES_MAX_POINTS
 * it keeps every other point and doubles res, so that a run of a millisecond keeps its shape
 * as well as one of an hour.
 */
#ifndef HT_SERIES_H
#define HT_SERIES_H

#include <stddef.h>
#include <stdint.h>

#define SERIES_RES_NS	  1000ull
#define SERIES_MAX_POINTS 4096

struct series {
	uint64_t *pts; /* ts, value pairs */
	size_t n, cap;
	uint64_t res; /* ns per point at most */
};

/*
 * A point; within the same res the last value wins, a value equal to the last is dropped, and
 * a time before the last point's counts as the last point's (batched faults of two threads
 * arrive out of order).
 */
void series_add(struct series *s, uint64_t ts, uint64_t v);
void series_free(struct series *s);

#endif
