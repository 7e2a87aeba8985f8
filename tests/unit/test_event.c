// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of record validation, event kinds, and the JSON and text forms of records. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>
#include "output/event_fmt.h"
#include "record/event.h"
#include "util/say.h"
#include "output/json.h"

#define HDR(t, s)                                                                                  \
	{                                                                                          \
		.type = (t), .size = sizeof(s), .ts_ns = 1000, .pid = 42, .tid = 43                \
	}

/* Formats one record as JSON into a string the test owns. */
static char *to_json(const void *rec)
{
	struct event_fmt_ctx fc = { .comm = "prog", .t0_ns = 0 };
	struct json j;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	json_init(&j, f);
	event_fmt_json(&j, rec, &fc);
	fclose(f);
	return buf;
}

static char *to_text(const void *rec)
{
	struct event_fmt_ctx fc = { .comm = "prog", .t0_ns = 0 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	event_fmt_text(f, rec, &fc);
	fclose(f);
	return buf;
}

#define assert_contains(hay, needle)                                                               \
	do {                                                                                       \
		if (!strstr((hay), (needle)))                                                      \
			fail_msg("'%s' not found in '%s'", (needle), (hay));                       \
	} while (0)

static void test_check_valid_records(void **state)
{
	struct ht_alloc a = { .hdr = HDR(HT_REC_ALLOC, a), .fn = HT_FN_MALLOC };
	struct ht_syscall s = { .hdr = HDR(HT_REC_SYSCALL, s), .sys = HT_SYS_MMAP };
	struct ht_hdr held = HDR(HT_REC_HELD, struct ht_hdr);

	(void)state;
	assert_int_equal(ht_rec_check(&a, sizeof(a)), HT_REC_ALLOC);
	assert_int_equal(ht_rec_check(&s, sizeof(s)), HT_REC_SYSCALL);
	assert_int_equal(ht_rec_check(&held, sizeof(held)), HT_REC_HELD);
	/* a buffer longer than the record is fine: the record says its size */
	assert_int_equal(ht_rec_check(&s, sizeof(s) + 0), HT_REC_SYSCALL);
}

static void test_check_rejects_bad_records(void **state)
{
	struct ht_alloc a = { .hdr = HDR(HT_REC_ALLOC, a), .fn = HT_FN_MALLOC };

	(void)state;
	assert_int_equal(ht_rec_check(&a, 10), -1);
	assert_string_equal(ht_rec_problem(&a, 10), "shorter than a record header");
	assert_int_equal(ht_rec_check(&a, sizeof(a) - 1), -1);
	assert_string_equal(ht_rec_problem(&a, sizeof(a) - 1),
			    "record extends past the end of the buffer");
	a.hdr.size = sizeof(a) + 8;
	assert_int_equal(ht_rec_check(&a, sizeof(a) + 8), -1);
	assert_string_equal(ht_rec_problem(&a, sizeof(a) + 8),
			    "record size does not match its type");
	a.hdr.size = sizeof(a);
	a.fn = HT_FN_MAX;
	assert_int_equal(ht_rec_check(&a, sizeof(a)), -1);
	assert_string_equal(ht_rec_problem(&a, sizeof(a)), "unknown allocator function");
	a.fn = 0;
	assert_int_equal(ht_rec_check(&a, sizeof(a)), -1);
	a.hdr.type = 0;
	assert_int_equal(ht_rec_check(&a, sizeof(a)), -1);
	assert_string_equal(ht_rec_problem(&a, sizeof(a)), "unknown record type");
	a.hdr.type = HT_REC_MAX;
	assert_int_equal(ht_rec_check(&a, sizeof(a)), -1);

	struct ht_syscall s = { .hdr = HDR(HT_REC_SYSCALL, s), .sys = HT_SYS_MAX };
	assert_int_equal(ht_rec_check(&s, sizeof(s)), -1);
	assert_string_equal(ht_rec_problem(&s, sizeof(s)), "unknown syscall");
	struct ht_lost l = { .hdr = HDR(HT_REC_LOST, l), .kind = HT_LOST_MAX };
	assert_int_equal(ht_rec_check(&l, sizeof(l)), -1);
	assert_string_equal(ht_rec_problem(&l, sizeof(l)), "unknown loss kind");
}

static void test_check_stack_records(void **state)
{
	struct ht_stack st = { .hdr = { .type = HT_REC_STACK }, .stack_id = 7, .nframes = 3 };

	(void)state;
	st.hdr.size = HT_STACK_HDR_SIZE + 3 * 8;
	assert_int_equal(ht_rec_check(&st, st.hdr.size), HT_REC_STACK);
	/* the buffer must hold all frames */
	assert_int_equal(ht_rec_check(&st, st.hdr.size - 8), -1);
	st.hdr.size += 8;
	assert_int_equal(ht_rec_check(&st, st.hdr.size), -1);
	assert_string_equal(ht_rec_problem(&st, st.hdr.size),
			    "stack record size does not match its frame count");
	st.nframes = HT_MAX_STACK_DEPTH + 1;
	st.hdr.size = sizeof(st);
	assert_int_equal(ht_rec_check(&st, sizeof(st)), -1);
	assert_int_equal(ht_rec_check(&st, 20), -1);
}

/* Comm records of format 2 (40 bytes, no ns_pid) are read beside today's; build-ids checked. */
static void test_check_comm_and_build_id_records(void **state)
{
	struct ht_comm c = { .hdr = HDR(HT_REC_COMM, c), .comm = "old", .ns_pid = 7 };
	struct ht_build_id b = { .hdr = HDR(HT_REC_BUILD_ID, b), .len = 20 };

	(void)state;
	assert_int_equal(ht_rec_check(&c, sizeof(c)), HT_REC_COMM);
	c.hdr.size = HT_COMM_V2_SIZE;
	assert_int_equal(ht_rec_check(&c, HT_COMM_V2_SIZE), HT_REC_COMM);
	c.hdr.size = HT_COMM_V2_SIZE + 4;
	assert_int_equal(ht_rec_check(&c, sizeof(c)), -1);
	assert_string_equal(ht_rec_problem(&c, sizeof(c)), "record size does not match its type");
	assert_int_equal(ht_rec_check(&b, sizeof(b)), HT_REC_BUILD_ID);
	b.len = HT_BUILD_ID_MAX + 1;
	assert_int_equal(ht_rec_check(&b, sizeof(b)), -1);
	assert_string_equal(ht_rec_problem(&b, sizeof(b)), "build-id length out of range");
	b.len = 0;
	assert_int_equal(ht_rec_check(&b, sizeof(b)), -1);
}

static void test_kinds_parse(void **state)
{
	char said[128];
	uint64_t mask;

	(void)state;
	assert_int_equal(ht_kinds_parse("malloc,free", &mask), 0);
	assert_int_equal(mask, HT_KIND_BIT(HT_K_MALLOC) | HT_KIND_BIT(HT_K_FREE));
	assert_int_equal(ht_kinds_parse("alloc", &mask), 0);
	assert_int_equal(mask, HT_KINDS_ALLOC);
	assert_true(mask & HT_KIND_BIT(HT_K_DELETE));
	assert_false(mask & HT_KIND_BIT(HT_K_BRK));
	assert_int_equal(ht_kinds_parse("vm,fault", &mask), 0);
	assert_true(mask & HT_KIND_BIT(HT_K_BRK) && mask & HT_KIND_BIT(HT_K_SHMDT));
	assert_true(mask & HT_KIND_BIT(HT_K_FAULT));
	assert_false(mask & HT_KIND_BIT(HT_K_FREE));
	assert_int_equal(ht_kinds_parse("process", &mask), 0);
	assert_int_equal(mask, HT_KINDS_PROCESS);
	assert_int_equal(ht_kinds_parse("all", &mask), 0);
	assert_int_equal(mask, HT_KINDS_ALL);
	say_capture(said, sizeof(said));
	assert_int_equal(ht_kinds_parse("malloc,bogus", &mask), -1);
	assert_string_equal(said, "unknown event kind 'bogus'\n");
	/* prefixes are not names */
	assert_int_equal(ht_kinds_parse("mall", &mask), -1);
	assert_int_equal(ht_kinds_parse("", &mask), -1);
	say_capture(NULL, 0);
}

static void test_kinds_of_records(void **state)
{
	struct ht_syscall s = { .hdr = HDR(HT_REC_SYSCALL, s), .sys = HT_SYS_PKEY_MPROTECT };
	struct ht_alloc a = { .hdr = HDR(HT_REC_ALLOC, a), .fn = HT_FN_NEW };
	struct ht_hdr held = HDR(HT_REC_HELD, struct ht_hdr);

	(void)state;
	/* syscalls map to the contract's kinds: pkey_mprotect is an mprotect */
	assert_int_equal(ht_rec_kind(&s.hdr), HT_K_MPROTECT);
	s.sys = HT_SYS_MLOCKALL;
	assert_int_equal(ht_rec_kind(&s.hdr), HT_K_MLOCK);
	s.sys = HT_SYS_MUNLOCKALL;
	assert_int_equal(ht_rec_kind(&s.hdr), HT_K_MUNLOCK);
	assert_int_equal(ht_rec_kind(&a.hdr), HT_K_NEW);
	assert_int_equal(ht_rec_kind(&held), HT_K_NONE);
}

static void test_json_malloc(void **state)
{
	struct ht_alloc a = { .hdr = HDR(HT_REC_ALLOC, a),
			      .fn = HT_FN_MALLOC,
			      .args = { 100 },
			      .ret = 0x5555deadb000,
			      .addr = 0x5555deadb000,
			      .lat_ns = 850,
			      .caller = 0x401234,
			      .stack_id = 0xabc1 };
	char *s = to_json(&a);

	(void)state;
	assert_string_equal(s, "{\"ts_ns\":1000,\"pid\":42,\"tid\":43,\"comm\":\"prog\","
			       "\"event\":\"malloc\",\"size\":100,\"addr\":\"0x5555deadb000\","
			       "\"lat_ns\":850,\"caller\":\"0x401234\",\"stack_id\":\"0xabc1\"}");
	free(s);
	/* a failed allocation has no address */
	a.ret = a.addr = 0;
	s = to_json(&a);
	assert_contains(s, "\"addr\":null");
	free(s);
}

static void test_json_alloc_layouts(void **state)
{
	struct ht_alloc a = { .hdr = HDR(HT_REC_ALLOC, a) };
	char *s;

	(void)state;
	a.fn = HT_FN_REALLOCARRAY;
	a.args[0] = 0x1000;
	a.args[1] = 4;
	a.args[2] = 8;
	a.addr = 0x2000;
	s = to_json(&a);
	assert_contains(s, "\"event\":\"reallocarray\",\"ptr\":\"0x1000\",\"nmemb\":4,\"size\":8,"
			   "\"addr\":\"0x2000\"");
	free(s);

	/* posix_memalign: the int result and the address read through memptr */
	a.fn = HT_FN_POSIX_MEMALIGN;
	a.args[0] = 0x7ffc0000;
	a.args[1] = 3;
	a.args[2] = 16;
	a.ret = EINVAL;
	a.addr = 0;
	s = to_json(&a);
	assert_contains(s, "\"memptr\":\"0x7ffc0000\",\"align\":3,\"size\":16,\"ret\":22,"
			   "\"addr\":null");
	free(s);

	/* free: only the pointer, no result */
	a.fn = HT_FN_FREE;
	a.args[0] = 0x1234;
	s = to_json(&a);
	assert_contains(s, "\"event\":\"free\",\"ptr\":\"0x1234\",\"caller\":\"0x0\"}");
	free(s);

	/* aliases name the functions that share the probed address */
	a.fn = HT_FN_ALIGNED_ALLOC;
	a.aliases = 1u << HT_FN_MEMALIGN;
	a.args[0] = 64;
	a.args[1] = 128;
	a.addr = 0x4000;
	s = to_json(&a);
	assert_contains(s, "\"align\":64,\"size\":128,\"aliases\":[\"memalign\"]");
	free(s);
}

static void test_json_new_delete_variants(void **state)
{
	struct ht_alloc a = { .hdr = HDR(HT_REC_ALLOC, a), .fn = HT_FN_NEW };
	char *s;

	(void)state;
	a.variant = HT_VAR_ARRAY | HT_VAR_ALIGNED | HT_VAR_NOTHROW;
	a.args[0] = 256;
	a.args[1] = 64;
	a.addr = 0x9000;
	s = to_json(&a);
	assert_contains(s, "\"event\":\"new\",\"size\":256,\"align\":64,\"array\":true,"
			   "\"nothrow\":true,\"addr\":\"0x9000\"");
	free(s);

	a.fn = HT_FN_DELETE;
	a.variant = HT_VAR_SIZED | HT_VAR_ALIGNED;
	a.args[0] = 0x9000;
	a.args[1] = 256;
	a.args[2] = 64;
	s = to_json(&a);
	assert_contains(s, "\"event\":\"delete\",\"ptr\":\"0x9000\",\"size\":256,\"align\":64,"
			   "\"array\":false,");
	free(s);

	a.variant = HT_VAR_ALIGNED; /* unsized: align is the second argument */
	a.args[1] = 32;
	s = to_json(&a);
	assert_contains(s, "\"ptr\":\"0x9000\",\"align\":32,\"array\":false,");
	free(s);
}

static void test_json_syscalls(void **state)
{
	struct ht_syscall s = { .hdr = HDR(HT_REC_SYSCALL, s),
				.sys = HT_SYS_MMAP,
				.args = { 0, 4096, PROT_READ | PROT_WRITE,
					  MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 },
				.ret = 0x7f0000001000,
				.lat_ns = 3000 };
	char *out;

	(void)state;
	out = to_json(&s);
	assert_contains(out,
			"\"event\":\"mmap\",\"syscall\":\"mmap\",\"addr\":\"0x0\",\"len\":4096,"
			"\"prot\":3,\"flags\":34,\"fd\":-1,\"off\":0,\"ret\":\"0x7f0000001000\"");
	free(out);
	/* MAP_FAILED is a failure with its errno, never an address */
	s.ret = -ENOMEM;
	out = to_json(&s);
	assert_contains(out, "\"ret\":-12,\"errno\":\"ENOMEM\"");
	free(out);

	s.sys = HT_SYS_MUNMAP;
	s.ret = 0;
	s.hdr.flags = HT_F_IN_ALLOC;
	out = to_json(&s);
	assert_contains(out, "\"event\":\"munmap\",\"syscall\":\"munmap\",\"addr\":\"0x0\","
			     "\"len\":4096,\"ret\":0,\"lat_ns\":3000,\"in_alloc\":true}");
	free(out);
}

static void test_brk_failure(void **state)
{
	struct ht_syscall s = { .hdr = HDR(HT_REC_SYSCALL, s), .sys = HT_SYS_BRK };
	int err;
	char *out;

	(void)state;
	/* brk(0) asks where the break is: never a failure */
	s.args[0] = 0;
	s.ret = 0x560000000000;
	assert_false(ht_syscall_failed(&s, &err));
	/* brk(x) that returns another value did not move */
	s.args[0] = 0x560000100000;
	assert_true(ht_syscall_failed(&s, &err));
	assert_int_equal(err, ENOMEM);
	out = to_json(&s);
	assert_contains(out, "\"ret\":\"0x560000000000\",\"errno\":\"ENOMEM\"");
	free(out);
	s.ret = (int64_t)s.args[0];
	assert_false(ht_syscall_failed(&s, &err));
}

static void test_json_fault_exit_lost(void **state)
{
	struct ht_fault f = { .hdr = HDR(HT_REC_FAULT, f),
			      .address = 0x1000,
			      .ip = 0x400000,
			      .error_code = HT_PF_WRITE | HT_PF_USER };
	struct ht_exit e = { .hdr = HDR(HT_REC_EXIT, e), .exit_code = 9 /* killed by SIGKILL */ };
	struct ht_lost l = { .hdr = HDR(HT_REC_LOST, l), .kind = HT_LOST_RINGBUF, .count = 7 };
	char *out;

	(void)state;
	out = to_json(&f);
	assert_contains(out, "\"event\":\"fault\",\"address\":\"0x1000\",\"ip\":\"0x400000\","
			     "\"error_code\":6,\"write\":true,\"exec\":false,\"present\":false}");
	free(out);
	out = to_json(&e);
	assert_contains(out, "\"event\":\"exit\",\"status\":9,\"signal\":\"KILL\"}");
	free(out);
	e.exit_code = 3 << 8;
	out = to_json(&e);
	assert_contains(out, "\"status\":768,\"exit_code\":3}");
	free(out);
	out = to_json(&l);
	assert_contains(out, "\"event\":\"lost\",\"kind\":\"ringbuf\",\"count\":7}");
	free(out);
}

static void test_text_forms(void **state)
{
	struct ht_syscall s = { .hdr = HDR(HT_REC_SYSCALL, s),
				.sys = HT_SYS_MMAP,
				.args = { 0, 4096, PROT_READ, MAP_PRIVATE, (uint64_t)-1, 0 },
				.ret = -EBADF };
	struct ht_alloc a = {
		.hdr = HDR(HT_REC_ALLOC, a), .fn = HT_FN_CALLOC, .args = { 10, 20 }, .addr = 0xabc0
	};
	char *out;

	(void)state;
	out = to_text(&s);
	assert_contains(out, "     42      43 prog             mmap(addr=0x0, len=4096, prot=READ, "
			     "flags=PRIVATE, fd=-1, off=0) = -1 EBADF (Bad file descriptor)");
	free(out);
	s.args[2] = 0;
	s.args[3] = MAP_PRIVATE | MAP_ANONYMOUS | 0x800000;
	s.ret = 0x7f0000000000;
	out = to_text(&s);
	/* unknown flag bits stay visible in hex */
	assert_contains(out, "prot=NONE, flags=PRIVATE|ANONYMOUS|0x800000");
	free(out);
	out = to_text(&a);
	assert_contains(out, "calloc(nmemb=10, size=20) = 0xabc0");
	free(out);
}

static void test_json_escaping(void **state)
{
	struct json j;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	json_init(&j, f);
	json_object_begin(&j);
	json_kv_string(&j, "s", "a\"b\\c\n\x01");
	json_key(&j, "arr");
	json_array_begin(&j);
	json_u64(&j, 1);
	json_s64(&j, -2);
	json_null(&j);
	json_array_end(&j);
	json_object_end(&j);
	json_line_end(&j);
	json_object_begin(&j);
	json_object_end(&j);
	fclose(f);
	assert_string_equal(buf, "{\"s\":\"a\\\"b\\\\c\\n\\u0001\",\"arr\":[1,-2,null]}\n{}");
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_check_valid_records),
		cmocka_unit_test(test_check_rejects_bad_records),
		cmocka_unit_test(test_check_stack_records),
		cmocka_unit_test(test_check_comm_and_build_id_records),
		cmocka_unit_test(test_kinds_parse),
		cmocka_unit_test(test_kinds_of_records),
		cmocka_unit_test(test_json_malloc),
		cmocka_unit_test(test_json_alloc_layouts),
		cmocka_unit_test(test_json_new_delete_variants),
		cmocka_unit_test(test_json_syscalls),
		cmocka_unit_test(test_brk_failure),
		cmocka_unit_test(test_json_fault_exit_lost),
		cmocka_unit_test(test_text_forms),
		cmocka_unit_test(test_json_escaping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
