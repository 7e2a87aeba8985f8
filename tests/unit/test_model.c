// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the per-process model, fed synthetic records: no BPF involved. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "model/dists.h"
#include "model/model.h"
#include "model/space.h"

static uint64_t clock_ns = 1000;

static struct ht_alloc alloc_rec(uint32_t pid, uint32_t tid, unsigned fn, uint64_t a0, uint64_t a1,
				 uint64_t a2, uint64_t addr)
{
	struct ht_alloc a = {
		.hdr = { .type = HT_REC_ALLOC,
			 .size = sizeof(a),
			 .ts_ns = clock_ns++,
			 .pid = pid,
			 .tid = tid },
		.fn = (uint8_t)fn,
		.args = { a0, a1, a2 },
		.ret = addr,
		.addr = addr,
		.caller = 0x401000 + fn,
	};
	return a;
}

static void feed(struct model *m, const void *rec)
{
	model_apply(m, rec);
}

static void feed_alloc(struct model *m, struct ht_alloc a)
{
	model_apply(m, &a.hdr);
}

#define MALLOC(m, pid, size, addr)                                                                 \
	feed_alloc(m, alloc_rec(pid, pid, HT_FN_MALLOC, size, 0, 0, addr))
#define FREE(m, pid, ptr) feed_alloc(m, alloc_rec(pid, pid, HT_FN_FREE, ptr, 0, 0, 0))
#define REALLOC(m, pid, ptr, size, addr)                                                           \
	feed_alloc(m, alloc_rec(pid, pid, HT_FN_REALLOC, ptr, size, 0, addr))

static void fork_rec(struct model *m, uint32_t parent, uint32_t child)
{
	struct ht_fork f = { .hdr = { .type = HT_REC_FORK,
				      .size = sizeof(f),
				      .ts_ns = clock_ns++,
				      .pid = parent,
				      .tid = parent },
			     .child_pid = child };

	strcpy(f.comm, "child");
	feed(m, &f);
}

static void exit_rec(struct model *m, uint32_t pid, int status)
{
	struct ht_exit e = { .hdr = { .type = HT_REC_EXIT,
				      .size = sizeof(e),
				      .ts_ns = clock_ns++,
				      .pid = pid,
				      .tid = pid },
			     .exit_code = status };

	strcpy(e.comm, "gone");
	feed(m, &e);
}

static const struct model_proc *live(struct model *m, uint32_t pid)
{
	const struct model_proc *p = model_proc_live(m, pid);

	assert_non_null(p);
	return p;
}

static int has_alloc(const struct model_proc *p, uint64_t addr, uint64_t size)
{
	size_t pos = 0;
	const struct model_alloc *a;

	while ((a = model_proc_next_alloc(p, &pos)))
		if (a->addr == addr)
			return a->size == size;
	return 0;
}

static void test_malloc_free(void **state)
{
	struct model *m = model_new();

	(void)state;
	MALLOC(m, 10, 100, 0x1000);
	MALLOC(m, 10, 50, 0x2000);
	assert_int_equal(live(m, 10)->live_bytes, 150);
	assert_int_equal(live(m, 10)->count, 2);
	FREE(m, 10, 0x1000);
	assert_int_equal(live(m, 10)->live_bytes, 50);
	assert_true(has_alloc(live(m, 10), 0x2000, 50));
	assert_false(has_alloc(live(m, 10), 0x1000, 100));
	FREE(m, 10, 0); /* free(NULL) is nothing */
	assert_int_equal(live(m, 10)->unmatched_frees, 0);
	model_free(m);
}

static void test_realloc_chain(void **state)
{
	struct model *m = model_new();
	const struct model_proc *p;

	(void)state;
	REALLOC(m, 10, 0, 10, 0x1000);	    /* realloc(NULL, n) allocates */
	REALLOC(m, 10, 0x1000, 20, 0x2000); /* moves */
	REALLOC(m, 10, 0x2000, 30, 0x2000); /* grows in place */
	p = live(m, 10);
	assert_int_equal(p->count, 1);
	assert_true(has_alloc(p, 0x2000, 30));
	REALLOC(m, 10, 0x2000, 1ull << 62, 0); /* fails: the block stays */
	assert_true(has_alloc(p, 0x2000, 30));
	assert_int_equal(p->failed_allocs, 1);
	REALLOC(m, 10, 0x2000, 0, 0); /* realloc(p, 0) frees */
	assert_int_equal(p->count, 0);
	assert_int_equal(p->live_bytes, 0);
	assert_int_equal(p->unmatched_frees, 0);
	/* reallocarray: nmemb * size, overflow fails */
	feed_alloc(m, alloc_rec(10, 10, HT_FN_REALLOCARRAY, 0, 4, 8, 0x3000));
	assert_true(has_alloc(p, 0x3000, 32));
	feed_alloc(m, alloc_rec(10, 10, HT_FN_REALLOCARRAY, 0x3000, 4, 16, 0x4000));
	assert_true(has_alloc(p, 0x4000, 64));
	assert_false(has_alloc(p, 0x3000, 32));
	model_free(m);
}

static void test_other_allocators(void **state)
{
	struct model *m = model_new();
	struct ht_alloc a;
	const struct model_proc *p;

	(void)state;
	feed_alloc(m, alloc_rec(10, 10, HT_FN_CALLOC, 10, 20, 0, 0x1000));
	feed_alloc(m, alloc_rec(10, 10, HT_FN_CALLOC, 1ull << 40, 1ull << 40, 0, 0));
	a = alloc_rec(10, 10, HT_FN_POSIX_MEMALIGN, 0x7ffc, 64, 256, 0x2000);
	a.ret = 0;
	feed(m, &a);
	a = alloc_rec(10, 10, HT_FN_POSIX_MEMALIGN, 0x7ffc, 3, 16, 0);
	a.ret = 22;
	feed(m, &a);
	feed_alloc(m, alloc_rec(10, 10, HT_FN_ALIGNED_ALLOC, 128, 300, 0, 0x3000));
	feed_alloc(m, alloc_rec(10, 10, HT_FN_PVALLOC, 5000, 0, 0, 0x4000));
	a = alloc_rec(10, 10, HT_FN_NEW, 1ull << 62, 0, 0, 0);
	a.hdr.flags = HT_F_NO_RETURN; /* threw */
	feed(m, &a);
	feed_alloc(m, alloc_rec(10, 10, HT_FN_NEW, 24, 0, 0, 0x5000));
	p = live(m, 10);
	assert_true(has_alloc(p, 0x1000, 200));
	assert_true(has_alloc(p, 0x2000, 256));
	assert_true(has_alloc(p, 0x3000, 300));
	assert_true(has_alloc(p, 0x4000, 8192)); /* whole pages */
	assert_true(has_alloc(p, 0x5000, 24));
	assert_int_equal(p->count, 5);
	assert_int_equal(p->failed_allocs, 3);
	assert_int_equal(p->no_return, 1);
	feed_alloc(m, alloc_rec(10, 10, HT_FN_DELETE, 0x5000, 0, 0, 0));
	assert_int_equal(p->count, 4);
	model_free(m);
}

static void test_double_and_unmatched_free(void **state)
{
	struct model *m = model_new();
	const struct model_proc *p;

	(void)state;
	FREE(m, 10, 0x9000); /* allocated before tracing began */
	p = live(m, 10);
	assert_int_equal(p->unmatched_frees, 1);
	assert_int_equal(p->double_frees, 0);
	MALLOC(m, 10, 8, 0x1000);
	FREE(m, 10, 0x1000);
	FREE(m, 10, 0x1000); /* no allocation between: a double free */
	assert_int_equal(p->double_frees, 1);
	assert_int_equal(p->double_free[0].addr, 0x1000);
	assert_int_equal(p->double_free[0].caller, 0x401000 + HT_FN_FREE);
	assert_int_equal(p->unmatched_frees, 1);
	/* allocated again, freed once: fine */
	MALLOC(m, 10, 8, 0x1000);
	FREE(m, 10, 0x1000);
	assert_int_equal(p->double_frees, 1);
	assert_int_equal(p->live_bytes, 0);
	model_free(m);
}

static void test_threads_share_the_process(void **state)
{
	struct model *m = model_new();

	(void)state;
	feed_alloc(m, alloc_rec(10, 11, HT_FN_MALLOC, 64, 0, 0, 0x1000));
	feed_alloc(m, alloc_rec(10, 12, HT_FN_FREE, 0x1000, 0, 0, 0));
	assert_int_equal(model_nprocs(m), 1);
	assert_int_equal(live(m, 10)->count, 0);
	assert_int_equal(live(m, 10)->unmatched_frees, 0);
	model_free(m);
}

static void test_fork_copies(void **state)
{
	struct model *m = model_new();
	const struct model_proc *parent, *child;

	(void)state;
	MALLOC(m, 10, 100, 0x1000);
	MALLOC(m, 10, 200, 0x2000);
	fork_rec(m, 10, 20);
	FREE(m, 20, 0x1000); /* the child frees its copy */
	MALLOC(m, 20, 300, 0x3000);
	parent = live(m, 10);
	child = live(m, 20);
	assert_int_equal(child->parent, 10);
	assert_string_equal(child->comm, "child");
	assert_true(has_alloc(parent, 0x1000, 100));
	assert_false(has_alloc(child, 0x1000, 100));
	assert_true(has_alloc(child, 0x2000, 200) && has_alloc(child, 0x3000, 300));
	assert_int_equal(parent->live_bytes, 300);
	assert_int_equal(child->live_bytes, 500);
	assert_int_equal(child->unmatched_frees, 0);
	model_free(m);
}

static void test_exec_resets(void **state)
{
	struct model *m = model_new();
	struct ht_exec e = {
		.hdr = { .type = HT_REC_EXEC, .size = sizeof(e), .pid = 10, .tid = 10 }
	};
	const struct model_proc *p;

	(void)state;
	MALLOC(m, 10, 100, 0x1000);
	FREE(m, 10, 0x8000);
	e.hdr.ts_ns = clock_ns++;
	strcpy(e.comm, "newprog");
	feed(m, &e);
	p = live(m, 10);
	assert_int_equal(p->count, 0);
	assert_int_equal(p->live_bytes, 0);
	assert_int_equal(p->unmatched_frees, 0);
	assert_string_equal(p->comm, "newprog");
	/* the old image's address, freed by the new one, was never seen by it */
	FREE(m, 10, 0x1000);
	assert_int_equal(p->unmatched_frees, 1);
	assert_int_equal(model_nprocs(m), 1);
	model_free(m);
}

/* A process seen first by its name (attach) gets its namespace pid, unless the record is old. */
static void test_comm_names_and_ns_pid(void **state)
{
	struct model *m = model_new();
	struct ht_comm c = {
		.hdr = { .type = HT_REC_COMM, .size = sizeof(c), .pid = 20, .tid = 20 },
		.comm = "attached",
		.ns_pid = 3
	};
	const struct model_proc *p;

	(void)state;
	c.hdr.ts_ns = clock_ns++;
	feed(m, &c);
	p = live(m, 20);
	assert_string_equal(p->comm, "attached");
	assert_int_equal(p->ns_pid, 3);
	/* format 2's 40 bytes: what lies past them is not read as ns_pid */
	c.hdr.pid = c.hdr.tid = 21;
	c.hdr.size = HT_COMM_V2_SIZE;
	feed(m, &c);
	p = live(m, 21);
	assert_string_equal(p->comm, "attached");
	assert_int_equal(p->ns_pid, 0);
	model_free(m);
}

static void test_exit_and_pid_reuse(void **state)
{
	struct model *m = model_new();
	const struct model_proc *old, *now;

	(void)state;
	MALLOC(m, 10, 100, 0x1000);
	exit_rec(m, 10, 3 << 8);
	assert_null(model_proc_live(m, 10));
	old = model_proc_at(m, 0);
	assert_true(old->exited);
	assert_int_equal(old->exit_status, 3 << 8);
	/* an exited process keeps its live allocations, its leaks, as sums per stack */
	assert_false(has_alloc(old, 0x1000, 100));
	assert_int_equal(old->nsums, 1);
	assert_int_equal(old->sums[0].bytes, 100);
	assert_int_equal(old->sums[0].count, 1);
	assert_int_equal(old->count, 1);
	assert_int_equal(old->live_bytes, 100);
	/* the same pid again is another process */
	MALLOC(m, 10, 7, 0x1000);
	assert_int_equal(model_nprocs(m), 2);
	now = live(m, 10);
	assert_ptr_not_equal(now, old);
	assert_true(has_alloc(now, 0x1000, 7));
	assert_int_equal(old->sums[0].bytes, 100);
	/* and a fork to a pid still live in the model retires the stale process */
	fork_rec(m, 30, 10);
	assert_int_equal(model_nprocs(m), 4);
	assert_true(model_proc_at(m, 1)->exited);
	assert_int_equal(live(m, 10)->count, 0);
	model_free(m);
}

/*
 * serve --retain: exited processes are forgotten, with what the models beside the process
 * model keep of them, and the others are found at their new indexes.
 */
static void test_forget_exited(void **state)
{
	struct model *m = model_new();
	struct dists *d = dists_new(m, 0, true);
	struct space *sp = space_new(m);
	const struct model_proc *a, *c;
	uint64_t cut;

	(void)state;
	space_now_only(sp);
	MALLOC(m, 10, 100, 0x1000);
	MALLOC(m, 20, 200, 0x2000);
	MALLOC(m, 30, 300, 0x3000);
	for (uint32_t pid = 10; pid <= 30; pid += 10) {
		struct ht_rss r = { .hdr = { .type = HT_REC_RSS,
					     .size = sizeof(r),
					     .ts_ns = clock_ns++,
					     .pid = pid,
					     .tid = pid },
				    .member = 1,
				    .size = pid * 4096 };

		space_apply(sp, &r.hdr);
	}
	exit_rec(m, 20, 0);
	cut = clock_ns;
	exit_rec(m, 10, 0);
	assert_int_equal(model_forget_exited(m, 0), 0);
	/* 20 exited before the cut, 10 after it */
	assert_int_equal(model_forget_exited(m, cut), 1);
	assert_int_equal(model_nprocs(m), 2);
	a = model_proc_at(m, 0);
	c = model_proc_at(m, 1);
	assert_int_equal(a->pid, 10);
	assert_int_equal(c->pid, 30);
	assert_int_equal(c->index, 1);
	assert_ptr_equal(live(m, 30), c);
	assert_ptr_equal(dists_proc_find(d, c)->p, c);
	assert_ptr_equal(dists_proc_find(d, a)->p, a);
	assert_int_equal(dists_nprocs(d), 2);
	assert_int_equal(space_nprocs(sp), 2);
	assert_int_equal(space_proc_find(sp, c)->now[SPACE_RSS_ANON], 30 * 4096);
	assert_int_equal(space_proc_find(sp, c)->s[SPACE_RSS_ANON].n, 0);
	/* the live one goes on at its new place */
	MALLOC(m, 30, 5, 0x3100);
	assert_int_equal(live(m, 30)->live_bytes, 305);
	assert_int_equal(dists_proc_find(d, c)->size.total, 2);
	/* a new process takes the next index */
	MALLOC(m, 40, 1, 0x4000);
	assert_int_equal(live(m, 40)->index, 2);
	assert_int_equal(model_forget_exited(m, clock_ns), 1);
	assert_int_equal(live(m, 40)->index, 1);
	assert_int_equal(dists_proc_find(d, live(m, 40))->size.total, 1);
	assert_int_equal(dists_proc_find(d, live(m, 30))->size.total, 2);
	space_free(sp);
	dists_free(d);
	model_free(m);
}

static void test_stacks_arrive_late(void **state)
{
	struct model *m = model_new();
	struct ht_alloc a = alloc_rec(10, 10, HT_FN_MALLOC, 16, 0, 0, 0x1000);
	struct ht_stack s = { .hdr = { .type = HT_REC_STACK, .pid = 10, .tid = 10 },
			      .stack_id = 0x77,
			      .nframes = 2,
			      .frames = { 0x401100, 0x401200 } };
	size_t pos = 0;
	const struct model_alloc *live_alloc;
	const struct model_stack *st;

	(void)state;
	s.hdr.size = HT_STACK_HDR_SIZE + 16;
	a.stack_id = 0x77;
	feed(m, &a); /* before its stack: the stack record was lost and comes again later */
	live_alloc = model_proc_next_alloc(live(m, 10), &pos);
	st = model_stack(m, live_alloc->stack);
	assert_non_null(st);
	assert_null(st->frames);
	feed(m, &s);
	feed(m, &s); /* repeats are harmless */
	st = model_stack(m, live_alloc->stack);
	assert_int_equal(st->nframes, 2);
	assert_int_equal(st->frames[1], 0x401200);
	model_free(m);
}

static void stack_rec(struct model *m, uint32_t pid, uint64_t id)
{
	struct ht_stack s = { .hdr = { .type = HT_REC_STACK,
				       .size = HT_STACK_HDR_SIZE + 8,
				       .ts_ns = clock_ns++,
				       .pid = pid,
				       .tid = pid },
			      .stack_id = id,
			      .nframes = 1,
			      .frames = { 0x400000 + id } };

	feed(m, &s);
}

static void malloc_at(struct model *m, uint32_t pid, uint64_t size, uint64_t addr, uint64_t stack)
{
	struct ht_alloc a = alloc_rec(pid, pid, HT_FN_MALLOC, size, 0, 0, addr);

	a.stack_id = stack;
	feed(m, &a);
}

/* How many stacks model_stacks_unused names (their ids let go). */
static size_t unused_named(struct model *m)
{
	uint64_t *ids;
	size_t n = model_stacks_unused(m, &ids);

	free(ids);
	return n;
}

/*
 * serve: stacks nothing refers to go in two steps; one used again between the steps stays;
 * what a hooked model keeps (dists: what each stack allocated) is referred to; a dropped
 * stack's index goes to the next new one.
 */
static void test_unused_stacks_dropped(void **state)
{
	struct model *m = model_new();
	uint64_t *ids;
	size_t n;
	const struct model_proc *p;

	(void)state;
	for (uint64_t id = 1; id <= 4; id++)
		stack_rec(m, 10, id);
	malloc_at(m, 10, 8, 0x1000, 1); /* live: kept */
	malloc_at(m, 10, 8, 0x2000, 2);
	FREE(m, 10, 0x2000); /* freed: unused */
	malloc_at(m, 20, 8, 0x1000, 3);
	exit_rec(m, 20, 0); /* a leak of an exited process: kept while the process is */
	n = model_stacks_unused(m, &ids);
	assert_int_equal(n, 2); /* 2, and 4 that nothing ever used */
	assert_true((ids[0] == 2 && ids[1] == 4) || (ids[0] == 4 && ids[1] == 2));
	free(ids);
	malloc_at(m, 10, 8, 0x3000, 4); /* used again between the steps */
	stack_rec(m, 10, 5);		/* and a new one, unused, not named: not dropped */
	assert_int_equal(model_stacks_drop(m), 1);
	assert_int_equal(model_stacks_dropped(m), 1);
	assert_null(model_stack_by_id(m, 2));
	assert_non_null(model_stack_by_id(m, 4)->frames);
	assert_non_null(model_stack_by_id(m, 5));
	/* the next new stack takes the dropped one's index */
	stack_rec(m, 10, 6);
	assert_ptr_equal(model_stack_by_id(m, 6), model_stack(m, 1));
	assert_int_equal(model_stack(m, 1)->frames[0], 0x400006);
	/* the exited process forgotten: its leak's stack goes too */
	model_forget_exited(m, clock_ns);
	assert_int_equal(unused_named(m), 3); /* 3, 5, 6 */
	assert_int_equal(model_stacks_drop(m), 3);
	p = live(m, 10);
	assert_int_equal(p->live_bytes, 16);
	model_free(m);

	/*
	 * A candidate sent again before the drop (BPF was told to forget it, and a capture came)
	 * stays, even when the block that sent it is freed before the drop: BPF counts it as sent
	 * and will not send it a third time.
	 */
	m = model_new();
	stack_rec(m, 10, 7);
	malloc_at(m, 10, 8, 0x1000, 7);
	FREE(m, 10, 0x1000);
	assert_int_equal(unused_named(m), 1);
	stack_rec(m, 10, 7);
	malloc_at(m, 10, 8, 0x2000, 7);
	FREE(m, 10, 0x2000);
	assert_int_equal(model_stacks_drop(m), 0);
	assert_non_null(model_stack_by_id(m, 7)->frames);
	/* named again at the next round and not sent meanwhile: it goes */
	assert_int_equal(unused_named(m), 1);
	assert_int_equal(model_stacks_drop(m), 1);
	model_free(m);

	/* a dists model keeps every stack a live process allocated from */
	m = model_new();
	struct dists *d = dists_new(m, 0, true);

	stack_rec(m, 10, 1);
	malloc_at(m, 10, 8, 0x1000, 1);
	FREE(m, 10, 0x1000);
	assert_int_equal(unused_named(m), 0);
	dists_free(d);
	model_free(m);
}

/* Measures table memory per live allocation across growth and shrinkage. */
static void test_memory_per_allocation(void **state)
{
	struct model *m = model_new();
	double worst = 0;

	(void)state;
	for (uint64_t i = 1; i <= 200000; i++) {
		MALLOC(m, 10, 32, i * 16);
		if (i >= 64) {
			double per = (double)model_alloc_memory(m) / (double)i;

			if (per > worst)
				worst = per;
		}
	}
	print_message("model: worst %.1f bytes of table per live allocation while growing\n",
		      worst);
	assert_true(worst <= 64.0);
	/* freeing gives the memory back, and stays within the budget on the way */
	for (uint64_t i = 1; i <= 199000; i++) {
		FREE(m, 10, i * 16);
		if (200000 - i >= 64)
			assert_true(model_alloc_memory(m) <= (200000 - i) * 64);
	}
	assert_int_equal(live(m, 10)->count, 1000);
	assert_true(model_alloc_memory(m) <= 1000 * 64);
	for (uint64_t i = 199001; i <= 200000; i++)
		assert_true(has_alloc(live(m, 10), i * 16, 32));
	model_free(m);
}

/* model_memory (-v's tables line) counts what the model holds, over every process. */
static void test_memory_breakdown(void **state)
{
	struct model *m = model_new();
	struct model_mem mem;

	(void)state;
	for (uint64_t i = 1; i <= 100; i++)
		MALLOC(m, 10, 32, i * 16);
	for (uint64_t i = 1; i <= 30; i++)
		MALLOC(m, 11, 32, i * 16);
	FREE(m, 11, 16);
	model_memory(m, &mem);
	assert_int_equal(mem.procs, 2);
	assert_int_equal(mem.live, 129);
	assert_int_equal(mem.alloc_bytes, model_alloc_memory(m));
	assert_true(mem.alloc_bytes >= 129 * sizeof(struct model_alloc));
	assert_true(mem.procs_bytes >= 2 * sizeof(struct model_proc));
	model_free(m);
}

static void test_lost_counts(void **state)
{
	struct model *m = model_new();
	struct ht_lost l = { .hdr = { .type = HT_REC_LOST, .size = sizeof(l) },
			     .kind = HT_LOST_STACK,
			     .count = 5 };

	(void)state;
	feed(m, &l);
	feed(m, &l);
	assert_int_equal(model_lost(m)[HT_LOST_STACK], 10);
	assert_int_equal(model_lost(m)[HT_LOST_RINGBUF], 0);
	model_free(m);
}

static void sampling_rec(struct model *m, uint64_t n)
{
	struct ht_sampling r = { .hdr = { .type = HT_REC_SAMPLING, .size = sizeof(r) },
				 .sample_bytes = n };

	feed(m, &r);
}

static void totals_rec(struct model *m, uint32_t pid, uint64_t allocs, int64_t live_bytes,
		       int64_t live_allocs)
{
	struct ht_totals t = { .hdr = { .type = HT_REC_TOTALS,
					.size = sizeof(t),
					.ts_ns = clock_ns++,
					.pid = pid,
					.tid = pid },
			       .c = { .allocs = allocs,
				      .alloc_bytes = allocs * 100,
				      .frees = allocs - (uint64_t)live_allocs,
				      .unknown_frees = 3,
				      .live_bytes = live_bytes,
				      .live_allocs = live_allocs } };

	feed(m, &t);
}

#define SAMPLED_MALLOC(m, pid, size, addr)                                                         \
	do {                                                                                       \
		struct ht_alloc a_ = alloc_rec(pid, pid, HT_FN_MALLOC, size, 0, 0, addr);          \
		a_.hdr.flags = HT_F_SAMPLED;                                                       \
		feed_alloc(m, a_);                                                                 \
	} while (0)

/*
 * Sampled mode: the slots hold the sampled blocks, the counts come from totals records alone
 * (sampled records do not count), and exited processes' sums are weighed estimates.
 */
static void test_sampled(void **state)
{
	struct model *m = model_new();
	const struct model_alloc_sum *sum;
	size_t pos = 0;
	double w;

	(void)state;
	assert_int_equal(model_sample_bytes(m), 0);
	assert_true(model_sample_weight(m, 100) == 1.0);
	sampling_rec(m, 1000);
	assert_int_equal(model_sample_bytes(m), 1000);
	/* an allocation of 100 bytes is sampled with chance 1 - exp(-0.1): it stands for 10.5 */
	w = model_sample_weight(m, 100);
	assert_true(w > 10.50 && w < 10.51);
	assert_true(model_sample_weight(m, 1000000) < 1.0000001);
	SAMPLED_MALLOC(m, 10, 100, 0x1000);
	SAMPLED_MALLOC(m, 10, 100, 0x2000);
	assert_true(live(m, 10)->sampled);
	assert_int_equal(live(m, 10)->count, 2);
	assert_int_equal(live(m, 10)->allocs, 0);
	assert_int_equal(live(m, 10)->live_bytes, 0);
	totals_rec(m, 10, 500, 12345, 67);
	assert_int_equal(live(m, 10)->allocs, 500);
	assert_int_equal(live(m, 10)->alloc_bytes, 50000);
	assert_int_equal(live(m, 10)->live_bytes, 12345);
	assert_int_equal(model_proc_live_allocs(live(m, 10)), 67);
	assert_int_equal(live(m, 10)->unmatched_frees, 3);
	/* a sampled free takes its block; a free of one not held is BPF's to count */
	FREE(m, 10, 0x1000);
	FREE(m, 10, 0x9000);
	assert_int_equal(live(m, 10)->count, 1);
	assert_int_equal(live(m, 10)->live_bytes, 12345);
	assert_int_equal(live(m, 10)->unmatched_frees, 3);
	assert_int_equal(live(m, 10)->double_frees, 0);
	/* a forked child starts with the parent's blocks and counts, as BPF's totals do */
	fork_rec(m, 10, 11);
	assert_true(live(m, 11)->sampled);
	assert_int_equal(live(m, 11)->live_bytes, 12345);
	assert_int_equal(model_proc_live_allocs(live(m, 11)), 67);
	assert_true(has_alloc(live(m, 11), 0x2000, 100));
	/* at exit the one sampled block of 100 bytes becomes an estimate: ~1051 bytes in ~11 */
	exit_rec(m, 10, 0);
	sum = model_proc_next_sum(model_proc_at(m, 0), &pos);
	assert_non_null(sum);
	assert_int_equal(sum->bytes, 1051);
	assert_int_equal(sum->count, 11);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malloc_free),
		cmocka_unit_test(test_realloc_chain),
		cmocka_unit_test(test_other_allocators),
		cmocka_unit_test(test_double_and_unmatched_free),
		cmocka_unit_test(test_threads_share_the_process),
		cmocka_unit_test(test_fork_copies),
		cmocka_unit_test(test_exec_resets),
		cmocka_unit_test(test_comm_names_and_ns_pid),
		cmocka_unit_test(test_exit_and_pid_reuse),
		cmocka_unit_test(test_forget_exited),
		cmocka_unit_test(test_stacks_arrive_late),
		cmocka_unit_test(test_unused_stacks_dropped),
		cmocka_unit_test(test_memory_per_allocation),
		cmocka_unit_test(test_memory_breakdown),
		cmocka_unit_test(test_lost_counts),
		cmocka_unit_test(test_sampled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
