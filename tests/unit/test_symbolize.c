// SPDX-License-Identifier: GPL-2.0-only
/* The symbolizer's module lists, on this test's own process: when /proc/PID/maps is read again. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include "symbols/symbolize.h"

static int reads;

static void count_read(void *ctx, uint32_t pid, const char *text, size_t len)
{
	(void)ctx;
	(void)pid;
	(void)text;
	(void)len;
	reads++;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * An address no mapping covers (a frame-pointer walk's garbage) is looked for in maps read
 * after its capture once, never again for stacks captured before that read; and reading the
 * same maps again keeps nothing more.
 */
static void test_garbage_frames_read_maps_once(void **state)
{
	struct symbolizer *s = symbolize_new();
	uint32_t pid = (uint32_t)getpid();
	uint64_t garbage[] = { (uint64_t)(uintptr_t)&test_garbage_frames_read_maps_once, 0x10 };
	uint64_t before = now_ns();
	struct symbolize_mem first, later;

	(void)state;
	symbolize_on_snapshot(s, count_read, NULL);
	assert_false(symbolize_cover(s, pid, 1, before, garbage, 2));
	assert_int_equal(reads, 1);
	symbolize_memory(s, &first);
	/* captured before that read: reading again could not cover it */
	for (int i = 0; i < 100; i++)
		assert_false(symbolize_cover(s, pid, 1, before, garbage, 2));
	assert_int_equal(reads, 1);
	/* captured after it: the process may have mapped something since */
	assert_false(symbolize_cover(s, pid, 1, now_ns(), garbage, 2));
	assert_int_equal(reads, 2);
	for (int i = 0; i < 20; i++)
		assert_false(symbolize_cover(s, pid, 1, now_ns(), garbage, 2));
	assert_int_equal(reads, 22);
	symbolize_memory(s, &later);
	/*
	 * The same lines and paths are kept once however often they are read (only what this
	 * process mapped meanwhile adds to them): before, each of the 21 reads kept its own copy.
	 */
	print_message("symbolize: %zu bytes after one read, %zu after 22\n", first.bytes,
		      later.bytes);
	assert_true(later.bytes < first.bytes * 2);
	/* our own code is covered without another read */
	assert_true(symbolize_cover(s, pid, 1, now_ns(), garbage, 1));
	assert_int_equal(reads, 22);
	symbolize_free(s);
}

/*
 * An exited process keeps the mappings its leaks need: the rest of its list goes, and the
 * frames that were in its code still are, those that were not still are not.
 */
static void test_retain_keeps_what_leaks_need(void **state)
{
	struct symbolizer *s = symbolize_new();
	uint32_t pid = (uint32_t)getpid();
	/* a real return address: into cmocka, right after its call of this test */
	uint64_t frames[] = { (uint64_t)(uintptr_t)__builtin_return_address(0), 0x10 };
	struct symbolize_mem before, after;

	(void)state;
	assert_true(symbolize_cover(s, pid, 1, now_ns(), frames, 1));
	symbolize_memory(s, &before);
	assert_int_equal(symbolize_true_frames(s, pid, 1, frames, 2), 1);
	symbolize_retain(s, pid, 1, frames, 2);
	symbolize_memory(s, &after);
	assert_int_equal(after.ranges, 1);
	assert_true(before.ranges > 5);
	assert_int_equal(symbolize_true_frames(s, pid, 1, frames, 2), 1);
	assert_int_equal(symbolize_true_frames(s, pid, 1, frames + 1, 1), 0);
	symbolize_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_garbage_frames_read_maps_once),
		cmocka_unit_test(test_retain_keeps_what_leaks_need),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
