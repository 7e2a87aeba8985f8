// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of histogram buckets, statistics and their JSON form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "model/hist.h"
#include "output/hist_out.h"

static void test_log2_buckets(void **state)
{
	struct hist h;
	uint64_t lo, hi;

	(void)state;
	hist_init(&h, 0);
	hist_add(&h, 0);
	hist_add(&h, 1);
	hist_add(&h, 16);
	hist_add(&h, 31);
	hist_add(&h, 32);
	hist_add(&h, UINT64_MAX);
	assert_int_equal(h.counts[0], 1); /* [0,1) */
	assert_int_equal(h.counts[1], 1); /* [1,2) */
	assert_int_equal(h.counts[5], 2); /* [16,32) */
	assert_int_equal(h.counts[6], 1); /* [32,64) */
	assert_int_equal(h.counts[64], 1);
	hist_bucket(&h, 5, &lo, &hi);
	assert_int_equal(lo, 16);
	assert_int_equal(hi, 32);
	hist_bucket(&h, 64, &lo, &hi);
	assert_int_equal(hi, UINT64_MAX);
	assert_int_equal(h.total, 6);
	assert_int_equal(h.min, 0);
	assert_int_equal(h.max, UINT64_MAX);
	hist_free(&h);
}

static void test_linear_buckets(void **state)
{
	struct hist h;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	struct json j;

	(void)state;
	hist_init(&h, 100);
	hist_add(&h, 5);
	hist_add(&h, 99);
	hist_add(&h, 250);
	f = open_memstream(&buf, &len);
	json_init(&j, f);
	json_object_begin(&j);
	hist_out_json(&j, &h);
	json_object_end(&j);
	fclose(f);
	/* empty buckets are left out */
	assert_string_equal(buf, "{\"buckets\":[{\"lo\":0,\"hi\":100,\"count\":2},"
				 "{\"lo\":200,\"hi\":300,\"count\":1}],\"total\":3,\"sum\":354,"
				 "\"min\":5,\"max\":250}");
	free(buf);
	hist_free(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log2_buckets),
		cmocka_unit_test(test_linear_buckets),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
