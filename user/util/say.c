// SPDX-License-Identifier: GPL-2.0-only
/* say(): every line heaptrail writes to stderr, and the capture the fuzzer and unit tests use. */
#include "say.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SAY_PREFIX "heaptrail: "

/* Per thread: the compat loader's thread must not take the main thread's lines, nor give. */
static __thread char *say_buf;
static __thread size_t say_len, say_used;

void say_capture(char *buf, size_t len)
{
	say_buf = len ? buf : NULL;
	say_len = len;
	say_used = 0;
	if (say_buf)
		say_buf[0] = '\0';
}

/* One line onto the capture, cut where the buffer ends. */
static void say_append(const char *fmt, va_list ap)
{
	size_t room = say_len - say_used;
	int n;

	if (room < 2)
		return;
	n = vsnprintf(say_buf + say_used, room - 1, fmt, ap);
	if (n < 0)
		return;
	say_used += (size_t)n < room - 2 ? (size_t)n : room - 2;
	say_buf[say_used++] = '\n';
	say_buf[say_used] = '\0';
}

/* The whole line in one write, so that lines of heaptrail and its guard never interleave. */
static void say_write(const char *line, size_t n)
{
	while (n) {
		ssize_t w = write(STDERR_FILENO, line, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* stderr is gone: there is nobody left to tell */
		line += w;
		n -= (size_t)w;
	}
}

void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void vsay(const char *fmt, va_list args)
{
	enum { P = sizeof(SAY_PREFIX) - 1 };
	int saved = errno;
	char small[512], *line = small;
	size_t avail = sizeof(small) - P - 1; /* the text, its NUL, then '\n' over the NUL */
	va_list ap;
	int n = 0;

	va_copy(ap, args);
	if (say_buf)
		say_append(fmt, ap);
	else
		n = vsnprintf(small + P, avail, fmt, ap);
	va_end(ap);
	if (say_buf || n < 0) {
		errno = saved;
		return;
	}
	memcpy(small, SAY_PREFIX, P);
	if ((size_t)n >= avail) {
		/* a long line (a -v listing): formatted again, whole */
		line = malloc(P + (size_t)n + 1);
		if (line) {
			memcpy(line, SAY_PREFIX, P);
			va_copy(ap, args);
			vsnprintf(line + P, (size_t)n + 1, fmt, ap);
			va_end(ap);
		} else {
			line = small;
			n = (int)avail - 1;
		}
	}
	line[P + n] = '\n';
	say_write(line, P + (size_t)n + 1);
	if (line != small)
		free(line);
	errno = saved;
}
