/* SPDX-License-Identifier: GPL-2.0-only */
/* Whether the reader of heaptrail's output is still there (`heaptrail trace | head -1`). */
#ifndef HT_OUTPIPE_H
#define HT_OUTPIPE_H

#include <stdbool.h>
#include <stdio.h>

/* fd is a pipe or socket whose reading end is closed: what is written there goes nowhere. */
bool outpipe_reader_gone(int fd);
/*
 * fflush(f), remembering the errno of the first write that failed (stdio forgets it): 0, or -1
 * when f has had an error, now or before.
 */
int outpipe_flush(FILE *f);
/* That errno, 0 if none was seen. */
int outpipe_errno(void);

#endif
