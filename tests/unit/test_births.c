// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the births model (when each stack's memory was allocated), fed synthetic records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "model/births.h"
#include "model/dists.h"
#include "record/event.h"

#define MS 1000000ull

static void feed(struct model *m, const struct ht_hdr *rec)
{

	assert_int_equal(ht_rec_check(rec, rec->size), rec->type);
	model_apply(m, rec);
}

static void call(struct model *m, unsigned fn, uint64_t arg, uint64_t addr, uint64_t stack,
		 uint64_t ts)
{
	struct ht_alloc a = {
		.hdr = { .type = HT_REC_ALLOC, .size = sizeof(a), .ts_ns = ts, .pid = 5, .tid = 5 },
		.fn = (uint8_t)fn,
		.args = { arg },
		.ret = addr,
		.addr = addr,
		.caller = 0x401000,
		.stack_id = stack,
	};

	feed(m, &a.hdr);
}

/* The stack of bp whose model stack has id, or NULL. */
static const struct births_stack *stack_with_id(const struct model *m, const struct births_proc *bp,
						uint64_t id)
{
	for (size_t k = 0; k < bp->nstacks; k++)
		if (bp->stacks[k].stack != MODEL_NO_STACK &&
		    model_stack(m, bp->stacks[k].stack)->id == id)
			return &bp->stacks[k];
	return NULL;
}

/* The sums over every span of a stack: live, allocs, live bytes, allocated bytes. */
static void sums(const struct births_stack *st, uint64_t out[4])
{
	memset(out, 0, 4 * sizeof(*out));
	for (uint32_t s = 0; s < st->nspans; s++) {
		out[0] += st->spans[s].live;
		out[1] += st->spans[s].allocs;
		out[2] += st->spans[s].live_bytes;
		out[3] += st->spans[s].alloc_bytes;
	}
}

static void test_spans_follow_allocations_and_frees(void **state)
{
	struct model *m = model_new();
	struct births *b = births_new(m);
	const struct births_proc *bp;
	const struct births_stack *a, *c;
	uint64_t span;

	call(m, HT_FN_MALLOC, 100, 0x1000, 7, 1000 * MS);
	call(m, HT_FN_MALLOC, 200, 0x2000, 7, 1000 * MS + 10);
	call(m, HT_FN_MALLOC, 50, 0x3000, 9, 1005 * MS);
	call(m, HT_FN_FREE, 0x2000, 0, 0, 1006 * MS);
	assert_int_equal(births_start(b), 1000 * MS);
	span = births_span_ns(b);
	assert_true(span >= 1000000 && span <= 5 * MS);
	bp = births_of(b, model_proc_at(m, 0));
	assert_non_null(bp);
	a = stack_with_id(m, bp, 7);
	c = stack_with_id(m, bp, 9);
	assert_non_null(a);
	assert_non_null(c);
	/* both of stack 7 in the first span: one of them still live */
	assert_int_equal(a->nspans, 1);
	assert_int_equal(a->spans[0].span, 0);
	assert_int_equal(a->spans[0].allocs, 2);
	assert_int_equal(a->spans[0].alloc_bytes, 300);
	assert_int_equal(a->spans[0].live, 1);
	assert_int_equal(a->spans[0].live_bytes, 100);
	/* it held 300 bytes before the free: its peak */
	assert_int_equal(a->live_bytes, 100);
	assert_int_equal(a->peak_bytes, 300);
	/* stack 9 five milliseconds on */
	assert_int_equal(c->nspans, 1);
	assert_int_equal(c->spans[0].span, 5 * MS / span);
	assert_int_equal(c->spans[0].live_bytes, 50);
	assert_int_equal(births_dropped(b), 0);
	births_free(b);
	model_free(m);
}

static void test_a_long_run_doubles_the_spans_and_keeps_the_sums(void **state)
{
	struct model *m = model_new();
	struct births *b = births_new(m);
	const struct births_stack *st;
	uint64_t before[4], after[4], first_span;

	/* one allocation every 100 ms for 10 s, every other one freed at once */
	for (uint64_t i = 0; i < 100; i++) {
		call(m, HT_FN_MALLOC, 10 + i, 0x1000 + i * 0x100, 7, 1000 * MS + i * 100 * MS);
		if (i % 2)
			call(m, HT_FN_FREE, 0x1000 + i * 0x100, 0, 0, 1000 * MS + i * 100 * MS + 1);
		if (i == 0)
			first_span = births_span_ns(b);
	}
	st = stack_with_id(m, births_of(b, model_proc_at(m, 0)), 7);
	sums(st, after);
	/* what was allocated, and of it the even ones live */
	before[0] = 50;
	before[1] = 100;
	before[2] = before[3] = 0;
	for (uint64_t i = 0; i < 100; i++) {
		before[3] += 10 + i;
		if (!(i % 2))
			before[2] += 10 + i;
	}
	assert_memory_equal(before, after, sizeof(before));
	/* 10 s in at most BIRTHS_SPANS spans, which doubled from the first length */
	assert_true(births_span_ns(b) > first_span);
	assert_true(births_span_ns(b) * BIRTHS_SPANS > 9900 * MS);
	assert_true(births_span_ns(b) * BIRTHS_SPANS / 2 <= 9900 * MS);
	assert_true(st->nspans <= BIRTHS_SPANS);
	for (uint32_t s = 1; s < st->nspans; s++)
		assert_true(st->spans[s - 1].span < st->spans[s].span);
	/* the last allocation's span holds it */
	assert_int_equal(st->spans[st->nspans - 1].span, 9900 * MS / births_span_ns(b));
	births_free(b);
	model_free(m);
}

static void test_beside_the_distributions(void **state)
{
	struct model *m = model_new();
	struct dists *d = dists_new(m, 0, true);
	struct births *b = births_new(m);
	struct ht_exit e = { .hdr = { .type = HT_REC_EXIT,
				      .size = sizeof(e),
				      .ts_ns = 1100 * MS,
				      .pid = 5,
				      .tid = 5 } };

	call(m, HT_FN_MALLOC, 100, 0x1000, 7, 1000 * MS);
	call(m, HT_FN_MALLOC, 300, 0x2000, 7, 1050 * MS);
	feed(m, &e.hdr);
	/* both consumers of the model's hooks saw both */
	assert_int_equal(dists_proc(d, 0)->size.sum, 400);
	/* what the process left at its exit stays where it was allocated */
	{
		const struct births_stack *st =
			stack_with_id(m, births_of(b, model_proc_at(m, 0)), 7);
		uint64_t s[4];

		sums(st, s);
		assert_int_equal(s[0], 2);
		assert_int_equal(s[2], 400);
		assert_int_equal(st->nspans, 2);
	}
	births_free(b);
	dists_free(d);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spans_follow_allocations_and_frees),
		cmocka_unit_test(test_a_long_run_doubles_the_spans_and_keeps_the_sums),
		cmocka_unit_test(test_beside_the_distributions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
