// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of record files, under ASan and UBSan: round trip, a file cut at many lengths,
 * bytes flipped at many places. Nothing may crash; every answer is a warning or an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <zstd.h>
#include "source/file/recfile.h"
#include "util/say.h"

#define NRECORDS 40000 /* packed, about 20 bytes each: one block */

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
	say_capture(err, sizeof(err));
	assert_int_equal(recfile_read_mem(file_data, file_size, "t", count, &n, &meta), 0);
	say_capture(NULL, 0);
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
		int ret;

		say_capture(err, sizeof(err));
		ret = recfile_read_mem(file_data, cut, "t", count, &n, NULL);
		say_capture(NULL, 0);

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

/* Where the last block's zsize field is: a flip there reads as a file cut short. */
static size_t last_zsize_at(void)
{
	size_t off = 16 + 17, last = 0;

	while (off + sizeof(struct recfile_block) <= file_size) {
		struct recfile_block b;

		memcpy(&b, file_data + off, sizeof(b));
		last = off + offsetof(struct recfile_block, zsize);
		off += sizeof(b) + b.zsize;
	}
	return last;
}

static void test_flipped_bytes(void **state)
{
	size_t zsize_at = last_zsize_at();

	(void)state;
	assert_true(zsize_at > 16 + 17);
	for (size_t pos = 0; pos < file_size; pos += pos < 128 ? 1 : 389) {
		uint8_t *copy = malloc(file_size);
		uint64_t n = 0;
		char err[256] = "";
		int ret;

		memcpy(copy, file_data, file_size);
		copy[pos] ^= 0xA5;
		say_capture(err, sizeof(err));
		ret = recfile_read_mem(copy, file_size, "t", count, &n, NULL);
		say_capture(NULL, 0);
		/*
		 * A flip is caught (a checksum covers every frame), or lands in the metadata text,
		 * or makes the last block longer than the file: read as cut short, with a warning.
		 */
		if (ret == 0 && pos >= zsize_at && pos < zsize_at + 4)
			assert_true(n < NRECORDS);
		else if (ret == 0)
			assert_true(pos >= 16 && pos < 16 + 17);
		else
			assert_true(err[0] != '\0');
		free(copy);
	}
}

/* ---------------------------------------------------------------- packed records, exactly */

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* The i-th record of a sequence meant to reach every packing case. */
static void exact_record(uint64_t *seed, uint32_t i, uint8_t *buf)
{
	uint64_t r = rnd(seed);

	if (r % 17 == 0) { /* an unpacked record between packed ones: alignment */
		struct ht_stack *st = (struct ht_stack *)buf;
		uint32_t nf = 1 + (uint32_t)(r >> 8) % 5;

		memset(st, 0, sizeof(*st));
		st->hdr = (struct ht_hdr){
			HT_REC_STACK, (uint16_t)(HT_STACK_HDR_SIZE + 8 * nf), 0, i, 7, 7
		};
		st->stack_id = r | 1;
		st->nframes = nf;
		for (uint32_t k = 0; k < nf; k++)
			st->frames[k] = rnd(seed);
	} else {
		struct ht_alloc *a = (struct ht_alloc *)buf;
		uint64_t f = rnd(seed);

		memset(a, 0, sizeof(*a));
		a->hdr =
			(struct ht_hdr){ HT_REC_ALLOC, sizeof(*a), f % 7 == 0 ? (uint32_t)f : 0,
					 /* mostly rising, sometimes back in time, sometimes huge */
					 f % 11 == 0 ? rnd(seed) : 1000000 + i * 50 - (f % 3) * 70,
					 f % 5 == 0 ? (uint32_t)(f >> 32) : 7,
					 f % 5 == 0 ? (uint32_t)(f >> 16) : 7 };
		a->fn = (uint8_t)(1 + (f >> 8) % (HT_FN_MAX - 1));
		a->variant = f % 13 == 0 ? (uint8_t)(f >> 24) : 0;
		a->aliases = f % 13 == 0 ? (uint16_t)(f >> 40) : 0;
		a->pad0 = 0;
		/* 6,000 distinct pairs: more than a block's dictionary holds */
		a->stack_id = f % 3 ? 0x1000 + (f >> 20) % 6000 : 0;
		a->caller = a->stack_id ? a->stack_id * 3 : rnd(seed);
		a->args[0] = rnd(seed) >> (f % 64);
		a->args[1] = f % 4 == 0 ? rnd(seed) : 0;
		a->args[2] = f % 8 == 0 ? rnd(seed) : 0;
		a->ret = f % 9 == 0 ? UINT64_MAX : rnd(seed) >> 16;
		a->addr = f % 6 == 0 ? rnd(seed) : a->ret;
		a->lat_ns = f % 2 ? rnd(seed) >> (f % 60) : 0;
	}
}

struct exact_ctx {
	uint64_t seed;
	uint32_t i;
	bool bad;
};

static void exact_check(void *ctx, const struct ht_hdr *rec)
{
	struct exact_ctx *c = ctx;
	uint8_t want[sizeof(struct ht_stack)];

	exact_record(&c->seed, c->i++, want);
	if (memcmp(want, rec, ((struct ht_hdr *)want)->size)) {
		if (!c->bad)
			fprintf(stderr, "record %u differs\n", c->i - 1);
		c->bad = true;
	}
}

#define NEXACT 300000

static void test_packed_exact(void **state)
{
	char path[] = "/tmp/heaptrail-unit-XXXXXX", err[256] = "";
	struct exact_ctx c = { .seed = 88172645463325252ull };
	uint8_t buf[sizeof(struct ht_stack)];
	struct recfile_writer *w;
	uint64_t seed = c.seed;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	w = recfile_create(path, "{}");
	assert_non_null(w);
	for (uint32_t i = 0; i < NEXACT; i++) {
		exact_record(&seed, i, buf);
		assert_int_equal(recfile_write(w, (struct ht_hdr *)buf), 0);
	}
	assert_int_equal(recfile_close(w), 0);
	say_capture(err, sizeof(err));
	assert_int_equal(recfile_read(path, exact_check, &c, NULL), 0);
	say_capture(NULL, 0);
	unlink(path);
	assert_false(c.bad);
	assert_int_equal(c.i, NEXACT);
}

/* Format 1 (every record as it is, padded to 8) is still read. */
static void test_reads_version_1(void **state)
{
	struct ht_alloc raw[3];
	struct recfile_header h = { .magic = RECFILE_MAGIC, .version = 1, .meta_len = 2 };
	struct recfile_block b = { .magic = RECFILE_BLOCK_MAGIC,
				   .raw_size = sizeof(raw),
				   .nrecords = 3 };
	uint8_t file[1024];
	char err[256] = "";
	uint64_t n = 0;
	size_t z;

	(void)state;
	memset(raw, 0, sizeof(raw));
	for (int i = 0; i < 3; i++) {
		raw[i].hdr = (struct ht_hdr){ HT_REC_ALLOC, sizeof(raw[i]), 0, 10 + i, 5, 5 };
		raw[i].fn = HT_FN_MALLOC;
		raw[i].args[0] = 32;
		raw[i].ret = raw[i].addr = 0x5000 + 64 * i;
	}
	z = ZSTD_compress(file + sizeof(h) + 2 + sizeof(b),
			  sizeof(file) - sizeof(h) - 2 - sizeof(b), raw, sizeof(raw), 1);
	assert_false(ZSTD_isError(z));
	b.zsize = (uint32_t)z;
	memcpy(file, &h, sizeof(h));
	memcpy(file + sizeof(h), "{}", 2);
	memcpy(file + sizeof(h) + 2, &b, sizeof(b));
	say_capture(err, sizeof(err));
	assert_int_equal(
		recfile_read_mem(file, sizeof(h) + 2 + sizeof(b) + z, "v1", count, &n, NULL), 0);
	say_capture(NULL, 0);
	assert_int_equal(n, 3);
	/* and a version from the future is refused */
	h.version = RECFILE_VERSION + 1;
	memcpy(file, &h, sizeof(h));
	say_capture(err, sizeof(err));
	assert_int_equal(
		recfile_read_mem(file, sizeof(h) + 2 + sizeof(b) + z, "v3", count, &n, NULL), -1);
	say_capture(NULL, 0);
	assert_non_null(strstr(err, "format version"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),	cmocka_unit_test(test_cut_anywhere),
		cmocka_unit_test(test_flipped_bytes),	cmocka_unit_test(test_packed_exact),
		cmocka_unit_test(test_reads_version_1),
	};

	return cmocka_run_group_tests(tests, make_file, free_file);
}
