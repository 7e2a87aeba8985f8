/* SPDX-License-Identifier: GPL-2.0-only */
/* How heaptrail says what went wrong: its one error convention, and the one way to stderr. */
#ifndef HT_SAY_H
#define HT_SAY_H

#include <stdarg.h>
#include <stddef.h>

/*
 * The convention, everywhere in user/ (the C library's own):
 *
 * - A function that can fail returns -1 when it does (NULL when it returns a pointer), 0 or a
 *   count when it does not. errno then holds the cause where a caller needs it to decide (the
 *   function's comment says so: ENOENT for a library that is not there, EINTR for a stop, ...).
 *   libbpf's negative errnos are turned into this where libbpf is called.
 * - What went wrong is said once, by the function that knows it, as one line through say();
 *   its callers pass the -1 up and add nothing. A function whose failure is an answer its caller
 *   branches on (a kernel feature missing, an optional library absent) says nothing: the caller
 *   says what that means, if anything.
 * - Code that checks data (a record, a packed record) answers with what is wrong with it, as
 *   text (NULL when nothing is), for the caller to say with its own context: the offset, the
 *   file.
 * - Every line heaptrail writes to stderr goes through say() (one signal handler aside): one
 *   write, "heaptrail: " first, errno left as it was. Where lines must not reach stderr (the
 *   fuzzer, a unit test of bad input), say_capture() takes them instead.
 */

/* Writes "heaptrail: <fmt...>\n" to stderr in one write (or to the capture); keeps errno. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same with a va_list, for functions that say on their caller's behalf. */
void vsay(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/*
 * From now on, on this thread, say() appends its lines to buf instead of writing them, each
 * without the prefix and with its '\n', as many as fit (always NUL-terminated); buf NULL writes
 * to stderr again.
 */
void say_capture(char *buf, size_t len);

#endif
