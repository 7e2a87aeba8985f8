// SPDX-License-Identifier: GPL-2.0-only
/* Report files named on the command line: opened before tracing, closed with errors checked. */
#include <errno.h>
#include <string.h>
#include "output/outfile.h"
#include "util/say.h"

int outfile_open(struct out_file *o, const char *path)
{
	o->path = path;
	o->f = NULL;
	if (!path)
		return 0;
	o->f = fopen(path, "we");
	if (!o->f) {
		say("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int outfile_close(struct out_file *o)
{
	int err;

	if (!o->f)
		return 0;
	/* both, always: ferror() for a write that failed earlier, fclose() for the last one */
	err = ferror(o->f) | fclose(o->f);
	o->f = NULL;
	if (err) {
		say("writing %s: %s", o->path, errno ? strerror(errno) : "write error");
		return -1;
	}
	return 0;
}
