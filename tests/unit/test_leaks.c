// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of what the leaks report computes: sums per stack, --min-age, growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "model/model.h"
#include "report/leaks.h"

static void stack(struct model *m, uint64_t id, uint64_t frame)
{
	struct ht_stack r = { .hdr = { .type = HT_REC_STACK,
				       .size = HT_STACK_HDR_SIZE + 8,
				       .ts_ns = 1,
				       .pid = 3,
				       .tid = 3 },
			      .stack_id = id,
			      .nframes = 1,
			      .frames = { frame } };

	model_apply(m, &r.hdr);
}

/* A two-frame stack: a true first frame, then what the walk read past it. */
static void stack2(struct model *m, uint64_t id, uint64_t frame, uint64_t garbage)
{
	struct ht_stack r = { .hdr = { .type = HT_REC_STACK,
				       .size = HT_STACK_HDR_SIZE + 16,
				       .ts_ns = 1,
				       .pid = 3,
				       .tid = 3 },
			      .stack_id = id,
			      .nframes = 2,
			      .frames = { frame, garbage } };

	model_apply(m, &r.hdr);
}

/* The second frame of every two-frame stack is garbage; other stacks are true throughout. */
static uint32_t first_frame_true(void *ctx, const struct model_proc *p,
				 const struct model_stack *st)
{
	(void)ctx;
	(void)p;
	return st->nframes == 2 ? 1 : st->nframes;
}

static void malloc_rec(struct model *m, uint64_t stack_id, uint64_t size, uint64_t addr,
		       uint64_t ts)
{
	struct ht_alloc a = {
		.hdr = { .type = HT_REC_ALLOC, .size = sizeof(a), .ts_ns = ts, .pid = 3, .tid = 3 },
		.fn = HT_FN_MALLOC,
		.args = { size },
		.ret = addr,
		.addr = addr,
		.stack_id = stack_id,
		.caller = 0x400000
	};

	model_apply(m, &a.hdr);
}

/* Stacks that differ only past their true frames are summed as one, under the first's index. */
static void test_cut_stacks_merge(void **state)
{
	struct model *m = model_new();
	struct leaks *l = leaks_new(m, 0);
	const struct model_proc *p;
	struct leaks_stack *s;
	size_t n;

	(void)state;
	leaks_set_true_frames(l, first_frame_true, NULL);
	stack2(m, 0x11, 0x401000, 0x2f656c61636f6c2f);
	stack2(m, 0x22, 0x401000, 0x0);
	stack2(m, 0x33, 0x402000, 0x0);
	stack(m, 0x44, 0x401000); /* the same frame, true all the way: another call path */
	malloc_rec(m, 0x11, 100, 0x1000, 100);
	malloc_rec(m, 0x22, 50, 0x2000, 100);
	malloc_rec(m, 0x33, 70, 0x3000, 100);
	malloc_rec(m, 0x44, 10, 0x4000, 100);
	p = model_proc_live(m, 3);
	s = leaks_stacks(l, p, 1000, &n);
	assert_int_equal(n, 3);
	assert_int_equal(s[0].bytes, 150);
	assert_int_equal(s[0].allocs, 2);
	assert_int_equal(s[0].stack, model_stack_by_id(m, 0x11) - model_stack(m, 0));
	assert_int_equal(s[1].bytes, 70);
	assert_int_equal(s[2].bytes, 10);
	free(s);
	leaks_free(l);
	model_free(m);
}

/*
 * An exited process's allocations are kept as sums per stack, apart for those younger than the
 * exit age: the leaks report, --min-age included, is what it was from the allocations.
 */
static void test_exited_process_sums(void **state)
{
	struct model *m = model_new();
	struct leaks *l = leaks_new(m, 500), *all = leaks_new(m, 0);
	struct ht_exit e = {
		.hdr = { .type = HT_REC_EXIT, .size = sizeof(e), .ts_ns = 1000, .pid = 3, .tid = 3 }
	};
	const struct model_proc *p;
	struct leaks_stack *s;
	size_t n;

	(void)state;
	model_set_exit_age(m, 500);
	stack(m, 0x11, 0x401000);
	stack(m, 0x22, 0x402000);
	malloc_rec(m, 0x11, 100, 0x1000, 100);
	malloc_rec(m, 0x11, 30, 0x2000, 300);
	malloc_rec(m, 0x11, 7, 0x3000, 950); /* younger than 500 at the exit */
	malloc_rec(m, 0x22, 40, 0x4000, 200);
	model_apply(m, &e.hdr);
	p = model_proc_at(m, 0);
	assert_true(p->exited);
	assert_null(p->slots);
	assert_int_equal(p->nsums, 3);
	s = leaks_stacks(l, p, 5000, &n);
	assert_int_equal(n, 2);
	assert_int_equal(s[0].bytes, 130);
	assert_int_equal(s[0].allocs, 2);
	assert_int_equal(s[1].bytes, 40);
	free(s);
	s = leaks_stacks(all, p, 5000, &n);
	assert_int_equal(n, 2);
	assert_int_equal(s[0].bytes, 137);
	assert_int_equal(s[0].allocs, 3);
	free(s);
	leaks_free(l);
	leaks_free(all);
	model_free(m);
}

static void test_sums_min_age_and_growth(void **state)
{
	struct model *m = model_new();
	struct leaks *young = leaks_new(m, 0), *old = leaks_new(m, 500);
	const struct model_proc *p;
	struct leaks_stack *s;
	size_t n;

	stack(m, 0x11, 0x401000);
	stack(m, 0x22, 0x402000);
	malloc_rec(m, 0x11, 100, 0x1000, 100);
	malloc_rec(m, 0x11, 100, 0x2000, 200);
	malloc_rec(m, 0x22, 500, 0x3000, 900);
	malloc_rec(m, 0, 7, 0x4000, 950); /* no stack captured */
	p = model_proc_live(m, 3);
	assert_non_null(p);

	s = leaks_stacks(young, p, 1000, &n);
	assert_int_equal(n, 3);
	/* largest first; the first report's growth is all of it */
	assert_int_equal(s[0].bytes, 500);
	assert_int_equal(s[0].growth, 500);
	assert_int_equal(s[1].bytes, 200);
	assert_int_equal(s[1].allocs, 2);
	assert_int_equal(s[2].stack, MODEL_NO_STACK);
	leaks_remember(young, p, s, n);

	/* only what is at least 500 ns old at 1000 */
	s = leaks_stacks(old, p, 1000, &n);
	assert_int_equal(n, 1);
	assert_int_equal(s[0].bytes, 200);
	free(s);

	/* one more of the first stack: its growth is that block, the others' 0 */
	malloc_rec(m, 0x11, 50, 0x5000, 1100);
	s = leaks_stacks(young, p, 1200, &n);
	assert_int_equal(n, 3);
	assert_int_equal(s[0].bytes, 500);
	assert_int_equal(s[0].growth, 0);
	assert_int_equal(s[1].bytes, 250);
	assert_int_equal(s[1].growth, 50);
	leaks_remember(young, p, s, n);
	leaks_free(young);
	leaks_free(old);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sums_min_age_and_growth),
		cmocka_unit_test(test_cut_stacks_merge),
		cmocka_unit_test(test_exited_process_sums),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
