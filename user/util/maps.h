/* SPDX-License-Identifier: GPL-2.0-only */
/* The one parser of /proc/PID/maps text: live from /proc, or a recording's MAPS records. */
#ifndef HT_MAPS_H
#define HT_MAPS_H

#include <stddef.h>
#include <stdint.h>

struct maps_line {
	uint64_t start, end;
	char perms[5]; /* "rw-p" */
	uint64_t offset;
	unsigned dev_major, dev_minor; /* of the file mapped (0:0 for anonymous memory) */
	uint64_t inode;
	const char *name; /* what follows the inode ("/usr/lib/libc.so.6", "[heap]"), or NULL */
	const char *text; /* the whole line, without its newline */
	size_t len;
};

/*
 * Calls fn for each well-formed line of text (start below end), in order; the strings last
 * until fn returns. fn returns non-zero to stop there. Returns the lines handed to fn.
 */
size_t maps_each(const char *text, size_t len, int (*fn)(void *ctx, const struct maps_line *l),
		 void *ctx);

/* The line's file path: its name when that is an absolute path, else NULL. */
static inline const char *maps_path(const struct maps_line *l)
{
	return l->name && l->name[0] == '/' ? l->name : NULL;
}

#endif
