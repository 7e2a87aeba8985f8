// SPDX-License-Identifier: GPL-2.0-only
/* Unwind rows compiled from real modules: this test's own binary and the C library. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "symbols/cfi.h"
#include "symbols/elfsym.h"
#include "util/procinfo.h"

static struct proc_libs libs;

static const struct ht_unwind_row *row_at(const struct cfi_table *t, uint64_t pc)
{
	const struct ht_unwind_row *r = NULL;

	for (size_t i = 0; i < t->nrows && t->rows[i].pc <= pc; i++)
		r = &t->rows[i];
	return r;
}

/* Rows ascend, neighbours differ, and every rule is one the BPF walk knows. */
static void check_rows(const struct cfi_table *t)
{
	assert_true(t->nrows > 0);
	for (size_t i = 0; i < t->nrows; i++) {
		const struct ht_unwind_row *r = &t->rows[i];

		assert_true(r->cfa <= HT_UW_END);
		if (i) {
			const struct ht_unwind_row *p = &t->rows[i - 1];

			assert_true(p->pc < r->pc);
			assert_true(p->cfa != r->cfa || p->cfa_off != r->cfa_off ||
				    p->bp_off != r->bp_off);
		}
	}
}

/*
 * libc: built without frame pointers; at malloc's first instruction the CFA is rsp + 8 (the
 * return address just pushed) and rbp is the caller's.
 */
static void test_libc_malloc_entry(void **state)
{
	static const char *const names[] = { "malloc" };
	struct elf_func fn;
	struct cfi_table t;
	const struct ht_unwind_row *r;
	int fd = open(libs.libc, O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(cfi_compile(fd, &t), 0);
	close(fd);
	check_rows(&t);
	assert_string_equal(t.source, ".eh_frame");
	assert_false(cfi_has_frame_pointers(&t));
	assert_int_equal(elf_find_funcs(libs.libc, names, 1, &fn), 1);
	r = row_at(&t, fn.vaddr);
	assert_non_null(r);
	assert_int_equal(r->cfa, HT_UW_CFA_SP);
	assert_int_equal(r->cfa_off, 8);
	assert_int_equal(r->bp_off, 0);
	/* a PLT row, with the threshold of its 16-byte entries */
	for (size_t i = 0; i < t.nrows; i++)
		if (t.rows[i].cfa == HT_UW_CFA_PLT)
			assert_true(t.rows[i].cfa_off == 10 || t.rows[i].cfa_off == 11);
	cfi_table_free(&t);
}

/* This test, built with frame pointers: most of its code keeps the CFA in rbp. */
static void test_own_binary_has_frame_pointers(void **state)
{
	struct cfi_table t;
	int fd = open("/proc/self/exe", O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(cfi_compile(fd, &t), 0);
	close(fd);
	check_rows(&t);
	assert_true(cfi_has_frame_pointers(&t));
	cfi_table_free(&t);
}

static void test_bias_of_a_mapping(void **state)
{
	struct cfi_table t = {
		.nsegs = 1, .segs = { { .vaddr = 0x1000, .offset = 0x1000, .filesz = 0x5000 } }
	};
	uint64_t bias;

	(void)state;
	assert_true(cfi_bias(t.segs, t.nsegs, 0x7f0000001000ull, 0x1000, &bias));
	assert_int_equal(bias, 0x7f0000000000ull);
	/* a segment not at a page boundary maps from the page below it */
	t.segs[0] = (struct cfi_segment){ .vaddr = 0x401230, .offset = 0x1230, .filesz = 0x100 };
	assert_true(cfi_bias(t.segs, t.nsegs, 0x555500001000ull, 0x1000, &bias));
	assert_int_equal(0x555500001230ull - bias, 0x401230);
	assert_false(cfi_bias(t.segs, t.nsegs, 0x555500001000ull, 0x9000, &bias));
}

static void test_not_elf(void **state)
{
	struct cfi_table t;
	int fd = open("/proc/self/status", O_RDONLY);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(cfi_compile(fd, &t), -1);
	assert_int_equal(t.nrows, 0);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libc_malloc_entry),
		cmocka_unit_test(test_own_binary_has_frame_pointers),
		cmocka_unit_test(test_bias_of_a_mapping),
		cmocka_unit_test(test_not_elf),
	};

	if (proc_find_libs(0, &libs) || !libs.libc[0])
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
