// SPDX-License-Identifier: GPL-2.0-only
/* Whether the reader of heaptrail's output is still there: a closed pipe ends a run. */
#include <errno.h>
#include <poll.h>
#include <sys/stat.h>
#include "util/outpipe.h"

bool outpipe_reader_gone(int fd)
{
	struct pollfd p = { .fd = fd, .events = 0 };
	struct stat st;

	/* A file or a terminal never reports it; poll's POLLERR on a pipe's writing end does. */
	if (fstat(fd, &st) || !(S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		return false;
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP));
}

static int outpipe_first_errno;

int outpipe_flush(FILE *f)
{
	errno = 0;
	if (fflush(f) && !outpipe_first_errno)
		outpipe_first_errno = errno;
	return ferror(f) ? -1 : 0;
}

int outpipe_errno(void)
{
	return outpipe_first_errno;
}
