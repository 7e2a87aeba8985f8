/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A report's file given on the command line (--svg, --folded, ...): created before tracing, so
 * that a path that cannot be written fails at once instead of costing the run; closed with its
 * write errors checked.
 */
#ifndef HT_OUTFILE_H
#define HT_OUTFILE_H

#include <stdio.h>

struct out_file {
	const char *path; /* NULL: not asked for */
	FILE *f;
};

/* Creates the file at path, if one, for writing: 0, or -1 after saying why. */
int outfile_open(struct out_file *o, const char *path);
/* Closes it (if open): 0, or -1 after saying why, when a write or the close failed. */
int outfile_close(struct out_file *o);

#endif
