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

/* hist_merge: two histograms merged are the one that had every value added. */
static void test_merge(void **state)
{
	for (uint64_t step = 0; step <= 100; step += 100) {
		struct hist a, b, all;

		(void)state;
		hist_init(&a, step);
		hist_init(&b, step);
		hist_init(&all, step);
		for (uint64_t v = 1; v < 5000; v += 37) {
			hist_add(v % 3 ? &a : &b, v);
			hist_add(&all, v);
		}
		hist_merge(&a, &b);
		assert_int_equal(a.total, all.total);
		assert_int_equal(a.sum, all.sum);
		assert_int_equal(a.min, all.min);
		assert_int_equal(a.max, all.max);
		assert_int_equal(a.nbuckets, all.nbuckets);
		for (size_t k = 0; k < all.nbuckets; k++)
			assert_int_equal(a.counts[k], all.counts[k]);
		hist_free(&a);
		hist_free(&b);
		hist_free(&all);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log2_buckets),
		cmocka_unit_test(test_linear_buckets),
		cmocka_unit_test(test_merge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
