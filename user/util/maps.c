// SPDX-License-Identifier: GPL-2.0-only
/* /proc/PID/maps lines: "start-end perms offset dev inode [name]", one per mapping. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "util/maps.h"

/* A line is at most a path (4096) and its fields. */
#define MAPS_LINE_MAX 4352

size_t maps_each(const char *text, size_t len, int (*fn)(void *ctx, const struct maps_line *l),
		 void *ctx)
{
	const char *line = text, *end;
	size_t n = 0;

	if (!text || !len)
		return 0; /* no snapshot yet (NULL + 0 is undefined) */
	end = text + len;
	while (line < end) {
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		size_t llen = nl ? (size_t)(nl - line) : (size_t)(end - line);
		char buf[MAPS_LINE_MAX];
		struct maps_line l = { 0 };
		int pos = 0;

		snprintf(buf, sizeof(buf), "%.*s",
			 (int)(llen < sizeof(buf) - 1 ? llen : sizeof(buf) - 1), line);
		l.text = buf;
		l.len = strlen(buf);
		line += llen + (nl != NULL);
		if (sscanf(buf, "%" SCNx64 "-%" SCNx64 " %4s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &l.start, &l.end, l.perms, &l.offset, &l.dev_major, &l.dev_minor,
			   &l.inode, &pos) < 7 ||
		    l.end <= l.start)
			continue;
		l.name = pos && buf[pos] ? buf + pos : NULL;
		n++;
		if (fn(ctx, &l))
			break;
	}
	return n;
}
