// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of record files, under ASan and UBSan: round trip, a file cut at many lengths,
 * bytes flipped at many places. Nothing may crash; every answer is a warning or an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "recfile.h"

#define NRECORDS 40000 /* 96 bytes each: four blocks */

static uint8_t *file_data;
static size_t file_size;

static void count(void *ctx, const struct ht_hdr *rec)
{
	(*(uint64_t *)ctx)++;
	assert_true(rec->size >= sizeof(*rec));
}

static int make_file(void **state)
{
	char path[] = "/tmp/heaptrail-unit-XXXXXX";
	int fd = mkstemp(path);
	struct recfile_writer *w;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	w = recfile_create(path, "{\"format\":\"test\"}");
	assert_non_null(w);
	for (uint32_t i = 0; i < NRECORDS; i++) {
		struct ht_alloc a = { .hdr = { .type = HT_REC_ALLOC,
					       .size = sizeof(a),
					       .ts_ns = i + 1,
					       .pid = 7,
					       .tid = 7 },
				      .fn = HT_FN_MALLOC,
				      .args = { i },
				      .addr = 0x1000 + 16 * (uint64_t)i };

		assert_int_equal(recfile_write(w, &a.hdr), 0);
	}
	assert_int_equal(recfile_close(w), 0);
	f = fopen(path, "rb");
	fseek(f, 0, SEEK_END);
	file_size = (size_t)ftell(f);
	rewind(f);
	file_data = malloc(file_size);
	assert_int_equal(fread(file_data, 1, file_size, f), file_size);
	fclose(f);
	unlink(path);
	return 0;
}

static int free_file(void **state)
{
	(void)state;
	free(file_data);
	return 0;
}

static void test_round_trip(void **state)
{
	uint64_t n = 0;
	char err[256] = "", *meta = NULL;

	(void)state;
	assert_int_equal(
		recfile_read_mem(file_data, file_size, "t", count, &n, &meta, err, sizeof(err)), 0);
	assert_int_equal(n, NRECORDS);
	assert_string_equal(meta, "{\"format\":\"test\"}");
	free(meta);
}

static void test_cut_anywhere(void **state)
{
	uint64_t prev = 0;

	(void)state;
	/* every length in the header, then every 997 bytes: never more records than before */
	for (size_t cut = 0; cut <= file_size; cut += cut < 256 ? 1 : 997) {
		uint64_t n = 0;
		char err[256];
		int ret = recfile_read_mem(file_data, cut, "t", count, &n, NULL, err, sizeof(err));

		if (cut < 16 + 17) {
			assert_int_equal(ret, -1); /* nothing readable */
			continue;
		}
		assert_int_equal(ret, 0);
		assert_true(n >= prev && n <= NRECORDS);
		assert_true(n % 1 == 0);
		prev = n;
	}
}

static void test_flipped_bytes(void **state)
{
	(void)state;
	for (size_t pos = 0; pos < file_size; pos += pos < 128 ? 1 : 389) {
		uint8_t *copy = malloc(file_size);
		uint64_t n = 0;
		char err[256] = "";
		int ret;

		memcpy(copy, file_data, file_size);
		copy[pos] ^= 0xA5;
		ret = recfile_read_mem(copy, file_size, "t", count, &n, NULL, err, sizeof(err));
		/* a flip is caught (a checksum covers every frame), or lands in the metadata text */
		if (ret == 0)
			assert_true(pos >= 16 && pos < 16 + 17);
		else
			assert_true(err[0] != '\0');
		free(copy);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_cut_anywhere),
		cmocka_unit_test(test_flipped_bytes),
	};

	return cmocka_run_group_tests(tests, make_file, free_file);
}
