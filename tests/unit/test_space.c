// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the address-space model and what it is made of: the VMA map, bounded series,
 * the pid set; fed synthetic maps texts and records, no BPF involved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>
#include "model/model.h"
#include "model/series.h"
#include "model/space.h"
#include "model/vma.h"
#include "record/event.h"
#include "util/pidset.h"

static const char maps_text[] =
	"555555554000-555555556000 r--p 00000000 08:01 1234 /usr/bin/prog\n"
	"555555556000-555555558000 r-xp 00002000 08:01 1234 /usr/bin/prog\n"
	"555555559000-55555557a000 rw-p 00000000 00:00 0 [heap]\n"
	"7ffff7dd0000-7ffff7df0000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6\n"
	"7ffffffde000-7ffffffff000 rw-p 00000000 00:00 0 [stack]\n";

/* ---------------------------------------------------------------- the VMA map */

static void test_vma_load_kinds(void **state)
{
	struct vma_map m;

	vma_map_init(&m);
	vma_map_load(&m, maps_text, sizeof(maps_text) - 1);
	assert_int_equal(m.n, 5);
	assert_int_equal(m.v[0].kind, VMA_FILE);
	assert_string_equal(m.v[0].path, "/usr/bin/prog");
	assert_string_equal(m.v[1].perms, "r-xp");
	assert_int_equal(m.v[2].kind, VMA_HEAP);
	assert_int_equal(m.v[4].kind, VMA_STACK);
	assert_int_equal(vma_map_bytes(&m), 0x2000 + 0x2000 + 0x21000 + 0x20000 + 0x21000);
	vma_map_free(&m);
}

static void test_vma_split_and_merge(void **state)
{
	struct vma_map m;
	const uint64_t base = 0x7f0000000000;

	vma_map_init(&m);
	vma_map_add(&m, base, 0x10000, "rw-p", VMA_ANON, NULL);
	/* munmap of the middle: two pieces */
	vma_map_remove(&m, base + 0x4000, 0x2000);
	assert_int_equal(m.n, 2);
	assert_int_equal(m.v[0].end, base + 0x4000);
	assert_int_equal(m.v[1].start, base + 0x6000);
	/* mprotect across the hole changes both sides, not the hole */
	vma_map_protect(&m, base + 0x3000, 0x4000, PROT_READ);
	assert_int_equal(m.n, 4);
	assert_string_equal(vma_map_find(&m, base + 0x3000)->perms, "r--p");
	assert_string_equal(vma_map_find(&m, base + 0x6000)->perms, "r--p");
	assert_string_equal(vma_map_find(&m, base + 0x7000)->perms, "rw-p");
	assert_null(vma_map_find(&m, base + 0x5000));
	/* MAP_FIXED over everything replaces it */
	vma_map_add(&m, base, 0x10000, "r-xp", VMA_ANON, NULL);
	assert_int_equal(m.n, 1);
	assert_int_equal(vma_map_bytes(&m), 0x10000);
	vma_map_free(&m);
}

static void test_vma_protect_until_hole(void **state)
{
	struct vma_map m;
	const uint64_t base = 0x7f0000000000;

	vma_map_init(&m);
	vma_map_add(&m, base, 0x2000, "rw-p", VMA_ANON, NULL);
	vma_map_add(&m, base + 0x3000, 0x1000, "rw-p", VMA_ANON, NULL);
	/* the kernel changed [base, base+0x2000) and stopped at the hole */
	vma_map_protect_until_hole(&m, base, 0x4000, PROT_NONE);
	assert_string_equal(vma_map_find(&m, base)->perms, "---p");
	assert_string_equal(vma_map_find(&m, base + 0x3000)->perms, "rw-p");
	vma_map_free(&m);
}

static void test_vma_remap_and_brk(void **state)
{
	struct vma_map m;
	const uint64_t base = 0x7f0000000000, to = 0x7f1000000000;

	vma_map_init(&m);
	vma_map_add(&m, base, 0x2000, "rw-p", VMA_ANON, NULL);
	vma_map_remap(&m, base, 0x2000, 0x4000, MREMAP_MAYMOVE, to);
	assert_null(vma_map_find(&m, base));
	assert_int_equal(vma_map_find(&m, to)->end, to + 0x4000);
	vma_map_brk(&m, 0x555555559000, 0x55555557a000);
	assert_int_equal(vma_map_find(&m, 0x555555559000)->kind, VMA_HEAP);
	vma_map_brk(&m, 0x555555559000, 0x55555555a000); /* shrinks */
	assert_int_equal(vma_map_find(&m, 0x555555559000)->end, 0x55555555a000);
	vma_map_free(&m);
}

/* ---------------------------------------------------------------- series */

static void test_series_bounded(void **state)
{
	struct series s = { 0 };

	for (uint64_t i = 0; i < 100000; i++)
		series_add(&s, i * 10000, i);
	assert_true(s.n <= SERIES_MAX_POINTS);
	assert_true(s.n >= SERIES_MAX_POINTS / 2);
	/* the last value is in effect at the end */
	assert_int_equal(s.pts[2 * s.n - 1], 99999);
	series_free(&s);
}

static void test_series_same_value_and_time(void **state)
{
	struct series s = { 0 };

	series_add(&s, 1000000, 5);
	series_add(&s, 1000100, 7); /* same microsecond: replaces */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.pts[1], 7);
	series_add(&s, 2000000, 7); /* no change: dropped */
	assert_int_equal(s.n, 1);
	series_add(&s, 500, 9); /* earlier: at the last point's time */
	assert_int_equal(s.n, 1);
	assert_int_equal(s.pts[1], 9);
	series_free(&s);
}

/* ---------------------------------------------------------------- the pid set */

static void test_pidset(void **state)
{
	struct pidset s = { 0 };

	for (uint32_t p = 1; p <= 5000; p++)
		assert_int_equal(pidset_add(&s, p * 7), 0);
	for (uint32_t p = 1; p <= 5000; p += 2)
		pidset_remove(&s, p * 7);
	for (uint32_t p = 1; p <= 5000; p++)
		assert_int_equal(pidset_has(&s, p * 7), p % 2 == 0);
	assert_false(pidset_has(&s, 0));
	/* churn: removed pids do not fill the table */
	for (uint32_t r = 0; r < 50; r++) {
		for (uint32_t p = 100000; p < 101000; p++)
			pidset_add(&s, p);
		for (uint32_t p = 100000; p < 101000; p++)
			pidset_remove(&s, p);
	}
	assert_true(s.cap <= 65536);
	assert_true(pidset_has(&s, 14));
	pidset_free(&s);
}

/* ---------------------------------------------------------------- the address space */

static uint64_t clock_ns = 1000;

static void feed(struct model *m, struct space *sp, const struct ht_hdr *rec)
{
	model_apply(m, rec);
	space_apply(sp, rec);
}

static void exec_rec(struct model *m, struct space *sp, uint32_t pid)
{
	struct ht_exec e = { .hdr = { .type = HT_REC_EXEC,
				      .size = sizeof(e),
				      .ts_ns = clock_ns++,
				      .pid = pid,
				      .tid = pid } };

	strcpy(e.comm, "prog");
	strcpy(e.filename, "/usr/bin/prog");
	feed(m, sp, &e.hdr);
}

static int maps_one(void *ctx, const struct ht_hdr *rec)
{
	void **mm = ctx;

	feed(mm[0], mm[1], rec);
	return 0;
}

/* A snapshot as the source sends it: cut into records of at most one line each here. */
static void maps_recs(struct model *m, struct space *sp, uint32_t pid, const char *text)
{
	void *ctx[2] = { m, sp };
	const char *p = text;

	while (*p) {
		size_t n = strcspn(p, "\n") + 1;

		ht_text_records(HT_REC_MAPS, pid, clock_ns++, p, n, maps_one, ctx);
		p += n;
	}
}

static void sys_rec(struct model *m, struct space *sp, uint32_t pid, unsigned sys,
		    const uint64_t args[6], int64_t ret)
{
	struct ht_syscall s = { .hdr = { .type = HT_REC_SYSCALL,
					 .size = sizeof(s),
					 .ts_ns = clock_ns++,
					 .pid = pid,
					 .tid = pid },
				.sys = sys,
				.ret = ret };

	memcpy(s.args, args, sizeof(s.args));
	feed(m, sp, &s.hdr);
}

static const struct space_proc *only_proc(const struct space *sp)
{
	assert_int_equal(space_nprocs(sp), 1);
	return space_proc(sp, 0);
}

static void test_space_start_names_and_sizes(void **state)
{
	struct model *m = model_new();
	struct space *sp = space_new(m);
	const uint64_t file = 0x7ffff7f00000, shm = 0x7ffff7e00000;
	const struct space_proc *t;
	char later[1024];

	exec_rec(m, sp, 42);
	/* the start: one snapshot in five records */
	maps_recs(m, sp, 42, maps_text);
	/* a file mapping, with the snapshot the source reads before it */
	/* in address order, as the kernel lists them: between libc and the stack */
	snprintf(later, sizeof(later),
		 "%.*s%012lx-%012lx rw-s 00000000 00:01 5 /SYSV00000000 (deleted)\n"
		 "%012lx-%012lx r--s 00000000 00:01 5 /SYSV00000000 (deleted)\n"
		 "%012lx-%012lx r--s 00000000 08:01 77 /data/table.bin\n%s",
		 (int)(strstr(maps_text, "7ffffffde000") - maps_text), maps_text,
		 (unsigned long)shm, (unsigned long)shm + 0x1000, (unsigned long)shm + 0x1000,
		 (unsigned long)shm + 0x4000, (unsigned long)file, (unsigned long)file + 0x3000,
		 strstr(maps_text, "7ffffffde000"));
	maps_recs(m, sp, 42, later);
	sys_rec(m, sp, 42, HT_SYS_MMAP,
		(const uint64_t[6]){ 0, 0x3000, PROT_READ, MAP_SHARED, 3, 0 }, (int64_t)file);
	sys_rec(m, sp, 42, HT_SYS_SHMAT, (const uint64_t[6]){ 5, 0, 0 }, (int64_t)shm);
	/* an anonymous mapping and a move of the break */
	sys_rec(m, sp, 42, HT_SYS_MMAP,
		(const uint64_t[6]){ 0, 1 << 20, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 },
		0x7ffff7000000);
	sys_rec(m, sp, 42, HT_SYS_BRK, (const uint64_t[6]){ 0x55555559a000 }, 0x55555559a000);
	space_finish(sp);

	t = only_proc(sp);
	assert_true(t->loaded);
	/* the start was the first snapshot, not the two run together */
	assert_int_equal(t->brk_start, 0x555555559000);
	assert_non_null(vma_map_find(&t->vmas, file));
	assert_string_equal(vma_map_find(&t->vmas, file)->path, "/data/table.bin");
	assert_int_equal(vma_map_find(&t->vmas, file)->kind, VMA_FILE);
	/* the segment's size is its lines of the snapshot, both of them */
	assert_non_null(vma_map_find(&t->vmas, shm));
	assert_int_equal(vma_map_find(&t->vmas, shm)->kind, VMA_SHM);
	assert_int_equal(vma_map_find(&t->vmas, shm + 0x3fff)->kind, VMA_SHM);
	assert_null(vma_map_find(&t->vmas, shm + 0x4000));
	/* the heap grew: its new part is a VMA of its own, up to the break */
	assert_int_equal(vma_map_find(&t->vmas, 0x555555599000)->kind, VMA_HEAP);
	assert_int_equal(vma_map_find(&t->vmas, 0x555555599000)->end, 0x55555559a000);
	assert_null(vma_map_find(&t->vmas, 0x55555559a000));
	/* one marker: the 1 MiB mmap; heap series: the break moved by 0x41000 */
	assert_int_equal(t->nmarkers, 2);
	assert_int_equal(t->s[SPACE_HEAP].pts[2 * t->s[SPACE_HEAP].n - 1], 0x41000);
	assert_int_equal(t->s[SPACE_MAPPED].pts[2 * t->s[SPACE_MAPPED].n - 1],
			 vma_map_bytes(&t->vmas));
	space_free(sp);
	model_free(m);
}

static void test_space_exec_starts_over(void **state)
{
	struct model *m = model_new();
	struct space *sp = space_new(m);
	const struct space_proc *t;

	exec_rec(m, sp, 7);
	maps_recs(m, sp, 7, maps_text);
	sys_rec(m, sp, 7, HT_SYS_MUNMAP, (const uint64_t[6]){ 0x7ffff7dd0000, 0x20000 }, 0);
	exec_rec(m, sp, 7);
	maps_recs(m, sp, 7, "400000-401000 r-xp 00000000 08:01 5 /bin/other\n");
	space_finish(sp);
	t = only_proc(sp);
	assert_int_equal(t->vmas.n, 1);
	assert_string_equal(t->vmas.v[0].path, "/bin/other");
	assert_int_equal(t->brk_start, 0);
	space_free(sp);
	model_free(m);
}

static void test_space_faults_by_kind(void **state)
{
	struct model *m = model_new();
	struct space *sp = space_new(m);
	struct ht_fault f = {
		.hdr = { .type = HT_REC_FAULT, .size = sizeof(f), .pid = 9, .tid = 9 }
	};
	const struct space_proc *t;

	exec_rec(m, sp, 9);
	maps_recs(m, sp, 9, maps_text);
	f.hdr.ts_ns = clock_ns++;
	f.address = 0x555555560000; /* heap, first touch, write */
	f.error_code = HT_PF_WRITE;
	feed(m, sp, &f.hdr);
	f.hdr.ts_ns = clock_ns++;
	f.address = 0x7ffffffd0000; /* just below the stack: it grows */
	f.error_code = HT_PF_WRITE;
	feed(m, sp, &f.hdr);
	f.hdr.ts_ns = clock_ns++;
	f.address = 0x1000; /* nothing there */
	f.error_code = HT_PF_PROT;
	feed(m, sp, &f.hdr);
	t = only_proc(sp);
	assert_int_equal(t->faults, 3);
	assert_int_equal(t->first_touch, 2);
	assert_int_equal(t->faults_by_kind[VMA_HEAP][1], 1);
	assert_int_equal(t->faults_by_kind[VMA_STACK][1], 1);
	assert_int_equal(t->faults_by_kind[VMA_SPECIAL + 1][0], 1);
	assert_int_equal(vma_map_find(&t->vmas, 0x7ffffffd0000)->kind, VMA_STACK);
	space_free(sp);
	model_free(m);
}

/*
 * A child starts with its parent's mappings as they are at the fork (later changes of the
 * parent's are not its), paths and all, without a snapshot of its own; one that comes later
 * is not a new start.
 */
static void test_space_fork_inherits(void **state)
{
	struct model *m = model_new();
	struct space *sp = space_new(m);
	struct ht_fork fk = {
		.hdr = { .type = HT_REC_FORK, .size = sizeof(fk), .pid = 5, .tid = 5 },
		.child_pid = 6
	};
	struct ht_fault f = {
		.hdr = { .type = HT_REC_FAULT, .size = sizeof(f), .pid = 6, .tid = 6 }
	};
	const struct space_proc *parent, *child;

	exec_rec(m, sp, 5);
	maps_recs(m, sp, 5, maps_text);
	sys_rec(m, sp, 5, HT_SYS_MMAP,
		(const uint64_t[6]){ 0, 0x10000, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0 },
		0x7ffff7000000);
	fk.hdr.ts_ns = clock_ns++;
	feed(m, sp, &fk.hdr);
	sys_rec(m, sp, 5, HT_SYS_MUNMAP, (const uint64_t[6]){ 0x7ffff7dd0000, 0x20000 }, 0);
	f.hdr.ts_ns = clock_ns++;
	f.address = 0x555555560000; /* the heap it has from its parent */
	f.error_code = HT_PF_WRITE;
	feed(m, sp, &f.hdr);
	/* the snapshot its first syscall would bring, of another address space: not the start */
	maps_recs(m, sp, 6, "400000-401000 r-xp 00000000 08:01 5 /bin/other\n");
	space_finish(sp);
	assert_int_equal(space_nprocs(sp), 2);
	parent = space_proc(sp, 0);
	child = space_proc(sp, 1);
	assert_ptr_equal(child->p, model_proc_live(m, 6));
	assert_true(child->loaded);
	assert_int_equal(child->vmas.n,
			 parent->vmas.n + 1); /* libc, unmapped by the parent after */
	assert_string_equal(vma_map_find(&child->vmas, 0x7ffff7dd0000)->path, "/usr/lib/libc.so.6");
	assert_null(vma_map_find(&parent->vmas, 0x7ffff7dd0000));
	assert_int_equal(vma_map_find(&child->vmas, 0x7ffff7000000)->end, 0x7ffff7010000);
	assert_int_equal(child->brk_start, 0x555555559000);
	assert_int_equal(child->faults_by_kind[VMA_HEAP][1], 1);
	assert_null(vma_map_find(&child->vmas, 0x400000));
	space_free(sp);
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vma_load_kinds),
		cmocka_unit_test(test_vma_split_and_merge),
		cmocka_unit_test(test_vma_protect_until_hole),
		cmocka_unit_test(test_vma_remap_and_brk),
		cmocka_unit_test(test_series_bounded),
		cmocka_unit_test(test_series_same_value_and_time),
		cmocka_unit_test(test_pidset),
		cmocka_unit_test(test_space_start_names_and_sizes),
		cmocka_unit_test(test_space_exec_starts_over),
		cmocka_unit_test(test_space_faults_by_kind),
		cmocka_unit_test(test_space_fork_inherits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
