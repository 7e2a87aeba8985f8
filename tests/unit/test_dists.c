// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the distributions model (what hist reports), fed synthetic records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "model/dists.h"
#include "model/space.h"
#include "record/event.h"

static uint64_t clock_ns = 1000;

static void feed(struct model *m, struct dists *d, const struct ht_hdr *rec)
{

	assert_int_equal(ht_rec_check(rec, rec->size), rec->type);
	model_apply(m, rec);
	dists_apply(d, rec);
}

static void alloc(struct model *m, struct dists *d, unsigned fn, uint64_t arg, uint64_t addr,
		  uint64_t ts)
{
	struct ht_alloc a = {
		.hdr = { .type = HT_REC_ALLOC, .size = sizeof(a), .ts_ns = ts, .pid = 5, .tid = 5 },
		.fn = (uint8_t)fn,
		.args = { arg },
		.ret = addr,
		.addr = addr,
		.caller = 0x401000
	};

	feed(m, d, &a.hdr);
}

static void test_sizes_and_lifetimes(void **state)
{
	struct model *m = model_new();
	struct dists *d = dists_new(m, 0, false);
	const struct dists_proc *p;

	alloc(m, d, HT_FN_MALLOC, 100, 0x1000, 1000);
	alloc(m, d, HT_FN_MALLOC, 3000, 0x2000, 2000);
	alloc(m, d, HT_FN_FREE, 0x1000, 0, 1500); /* lived 500 ns */
	alloc(m, d, HT_FN_FREE, 0x9999, 0, 1600); /* never seen: no lifetime */
	assert_int_equal(dists_nprocs(d), 1);
	p = dists_proc(d, 0);
	assert_int_equal(p->size.total, 2);
	assert_int_equal(p->size.sum, 3100);
	assert_int_equal(p->size.min, 100);
	assert_int_equal(p->size.max, 3000);
	assert_int_equal(p->lifetime.total, 1);
	assert_int_equal(p->lifetime.sum, 500);
	dists_free(d);
	model_free(m);
}

static void test_syscalls_faults_and_bpf_histograms(void **state)
{
	struct model *m = model_new();
	struct dists *d = dists_new(m, 0, false);
	struct ht_syscall s = {
		.hdr = { .type = HT_REC_SYSCALL, .size = sizeof(s), .pid = 5, .tid = 5 },
		.sys = HT_SYS_MMAP,
		.args = { 0, 8192, 3, 0x22, (uint64_t)-1, 0 },
		.ret = 0x7f0000000000,
		.lat_ns = 700
	};
	struct ht_fault f = {
		.hdr = { .type = HT_REC_FAULT, .size = sizeof(f), .pid = 5, .tid = 5 },
		.error_code = HT_PF_WRITE | HT_PF_USER
	};
	struct ht_exit e = { .hdr = {
				     .type = HT_REC_EXIT, .size = sizeof(e), .pid = 5, .tid = 5 } };
	struct ht_sys_hist_rec h = {
		.hdr = { .type = HT_REC_SYS_HIST, .size = sizeof(h), .pid = 5, .tid = 5 },
		.key = { .tgid = 5, .sys = HT_SYS_MUNMAP, .what = HT_SYS_HIST_LATENCY },
		.hist = { .total = 3, .sum = 30, .min = 5, .max = 15 }
	};
	const struct dists_proc *p;

	s.hdr.ts_ns = clock_ns++;
	feed(m, d, &s.hdr);
	s.ret = -12; /* ENOMEM: a latency, no size */
	s.hdr.ts_ns = clock_ns++;
	feed(m, d, &s.hdr);
	f.hdr.ts_ns = clock_ns++;
	feed(m, d, &f.hdr);
	f.error_code = HT_PF_PROT | HT_PF_INSTR;
	f.hdr.ts_ns = clock_ns++;
	feed(m, d, &f.hdr);
	e.hdr.ts_ns = clock_ns++;
	feed(m, d, &e.hdr);
	/* BPF's histograms arrive at the end, for a process that has exited by then */
	h.hist.counts[3] = 1;
	h.hist.counts[4] = 2;
	h.hdr.ts_ns = clock_ns++;
	feed(m, d, &h.hdr);
	p = dists_proc(d, 0);
	assert_int_equal(p->sys[HT_SYS_MMAP].total, 2);
	assert_int_equal(p->mmap_size.total, 1);
	assert_int_equal(p->mmap_size.sum, 8192);
	assert_int_equal(p->faults[2], 1); /* write, not present */
	assert_int_equal(p->faults[5], 1); /* exec, present */
	assert_int_equal(p->sys[HT_SYS_MUNMAP].total, 3);
	assert_int_equal(p->sys[HT_SYS_MUNMAP].sum, 30);
	assert_int_equal(p->sys[HT_SYS_MUNMAP].max, 15);
	dists_free(d);
	model_free(m);
}

/* Models built beside the process model keep their own per-process data: both at once. */
static void test_beside_the_address_space(void **state)
{
	struct model *m = model_new();
	struct dists *d = dists_new(m, 0, false);
	struct space *sp = space_new(m);
	struct ht_alloc a = {
		.hdr = { .type = HT_REC_ALLOC, .size = sizeof(a), .ts_ns = 10, .pid = 8, .tid = 8 },
		.fn = HT_FN_MALLOC,
		.args = { 64 },
		.ret = 0x5000,
		.addr = 0x5000
	};

	for (uint32_t pid = 8; pid < 40; pid++) {
		a.hdr.pid = a.hdr.tid = pid;
		a.hdr.ts_ns++;
		model_apply(m, &a.hdr);
		dists_apply(d, &a.hdr);
		space_apply(sp, &a.hdr);
	}
	assert_int_equal(dists_nprocs(d), 32);
	assert_int_equal(space_nprocs(sp), 32);
	for (size_t i = 0; i < 32; i++) {
		assert_int_equal(dists_proc(d, i)->p->pid, 8 + i);
		assert_int_equal(dists_proc(d, i)->size.total, 1);
		assert_int_equal(space_proc(sp, i)->p->pid, 8 + i);
		assert_int_equal(space_proc(sp, i)->s[SPACE_LIVE_ALLOCS].n, 1);
	}
	space_free(sp);
	dists_free(d);
	model_free(m);
}

static void test_bad_sys_hist_record(void **state)
{
	struct ht_sys_hist_rec h = { .hdr = { .type = HT_REC_SYS_HIST, .size = sizeof(h) },
				     .key = { .sys = HT_SYS_MAX } };

	assert_int_equal(ht_rec_check(&h, sizeof(h)), -1);
	h.key.sys = HT_SYS_BRK;
	h.key.what = 7;
	assert_int_equal(ht_rec_check(&h, sizeof(h)), -1);
	h.key.what = HT_SYS_HIST_MMAP_LEN;
	assert_int_equal(ht_rec_check(&h, sizeof(h)), HT_REC_SYS_HIST);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_and_lifetimes),
		cmocka_unit_test(test_syscalls_faults_and_bpf_histograms),
		cmocka_unit_test(test_beside_the_address_space),
		cmocka_unit_test(test_bad_sys_hist_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
