// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the task-name cache: thread names, process fallback, forgetting, tid reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "model/comm.h"

static void test_thread_and_process_names(void **state)
{
	struct comm_cache *c = comm_cache_new();

	(void)state;
	comm_cache_set(c, 100, 100, "server");
	comm_cache_set(c, 100, 101, "worker-1");
	assert_string_equal(comm_cache_get(c, 100, 101, 0), "worker-1");
	/* an unnamed thread takes its process's name */
	assert_string_equal(comm_cache_get(c, 100, 102, 0), "server");
	assert_string_equal(comm_cache_get(c, 100, 100, 0), "server");
	/* names are cut to the kernel's 16 bytes */
	comm_cache_set(c, 100, 100, "a-name-longer-than-sixteen");
	assert_string_equal(comm_cache_get(c, 100, 100, 0), "a-name-longer-t");
	comm_cache_free(c);
}

static void test_forget_and_reuse(void **state)
{
	struct comm_cache *c = comm_cache_new();

	(void)state;
	comm_cache_set(c, 100, 100, "old");
	comm_cache_set(c, 100, 4196, "old-thread"); /* same bucket as 100 */
	comm_cache_forget(c, 100);
	assert_string_equal(comm_cache_get(c, 100, 100, 0), "");
	assert_string_equal(comm_cache_get(c, 100, 4196, 0), "");
	/* a tid once owned by another process is not that process's name */
	comm_cache_set(c, 200, 201, "t");
	assert_string_equal(comm_cache_get(c, 300, 201, 0), "");
	comm_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_thread_and_process_names),
		cmocka_unit_test(test_forget_and_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
