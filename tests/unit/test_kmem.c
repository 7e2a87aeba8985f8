// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the kernel-allocator side with synthetic records: GFP flag decoding, the
 * kernel model (matching across kmalloc and kmem_cache, missed frees, untracked allocations),
 * size-class waste per cache, kernel symbols, interrupt allocations under a pid filter and the
 * hist -k distributions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "record/event.h"
#include "model/kmodel.h"
#include "report/kreport.h"
#include "symbols/ksyms.h"
#include "model/model.h"
#include "symbols/slabs.h"

static void test_gfp_names(void **state)
{
	char buf[256];

	(void)state;
	assert_string_equal(ht_gfp_format(0, buf, sizeof(buf)), "none");
	assert_string_equal(ht_gfp_format(0xcc0, buf, sizeof(buf)), "GFP_KERNEL");
	assert_string_equal(ht_gfp_format(0xcc0 | 0x100, buf, sizeof(buf)),
			    "GFP_KERNEL|__GFP_ZERO");
	assert_string_equal(ht_gfp_format(0x400cc0, buf, sizeof(buf)), "GFP_KERNEL_ACCOUNT");
	/* GFP_ATOMIC before 6.4 (with __GFP_ATOMIC) and after */
	assert_string_equal(ht_gfp_format(0xa20, buf, sizeof(buf)), "GFP_ATOMIC");
	assert_string_equal(ht_gfp_format(0x820, buf, sizeof(buf)), "GFP_ATOMIC");
	assert_string_equal(ht_gfp_format(0x2800 | 0x100, buf, sizeof(buf)),
			    "GFP_NOWAIT|__GFP_ZERO");
	assert_string_equal(ht_gfp_format(0x100cca | 0x40000 | 0x100, buf, sizeof(buf)),
			    "GFP_HIGHUSER_MOVABLE|__GFP_ZERO|__GFP_COMP");
	assert_string_equal(ht_gfp_format(0x1c24ca, buf, sizeof(buf)), "GFP_TRANSHUGE");
	/* single bits, and bits no kernel we know of uses */
	assert_string_equal(ht_gfp_format(0x800, buf, sizeof(buf)), "__GFP_KSWAPD_RECLAIM");
	assert_string_equal(ht_gfp_format(0xcc0 | (1ull << 40), buf, sizeof(buf)),
			    "GFP_KERNEL|0x10000000000");
	/* a short buffer is cut, still terminated */
	assert_string_equal(ht_gfp_format(0xcc0 | 0x100, buf, 8), "GFP_KER");
}

static struct ht_kmem rec(unsigned kind, unsigned op, uint64_t ptr, uint64_t req, uint64_t alloc,
			  const char *cache, uint64_t ts)
{
	struct ht_kmem r;

	memset(&r, 0, sizeof(r));
	r.hdr.type = HT_REC_KMEM;
	r.hdr.size = sizeof(r);
	r.hdr.ts_ns = ts;
	r.hdr.pid = r.hdr.tid = 42;
	r.kind = (uint8_t)kind;
	r.op = (uint8_t)op;
	r.ptr = ptr;
	r.bytes_req = req;
	r.bytes_alloc = alloc;
	r.gfp_flags = 0xcc0;
	r.node = -1;
	if (cache)
		strncpy(r.cache_name, cache, sizeof(r.cache_name));
	return r;
}

static void apply(struct kmodel *m, struct ht_kmem r)
{

	assert_int_equal(ht_rec_check(&r, sizeof(r)), HT_REC_KMEM);
	kmodel_apply(m, &r);
}

static void test_model_counts_and_waste(void **state)
{
	struct kmodel *m = kmodel_new();
	const struct kmodel_counts *km, *kc;
	const struct kmodel_cache *c;

	(void)state;
	apply(m, rec(HT_KA_KMALLOC, HT_KOP_ALLOC, 0xffff888000001000, 100, 128, NULL, 1));
	apply(m, rec(HT_KA_KMALLOC, HT_KOP_ALLOC, 0xffff888000002000, 120, 128, NULL, 2));
	apply(m, rec(HT_KA_CACHE, HT_KOP_ALLOC, 0xffff888000003000, 832, 896, "filp", 3));
	/* kfree of what kmem_cache_alloc made, kmem_cache_free of a kmalloc: one space */
	apply(m, rec(HT_KA_KMALLOC, HT_KOP_FREE, 0xffff888000003000, 0, 0, NULL, 4));
	apply(m, rec(HT_KA_CACHE, HT_KOP_FREE, 0xffff888000001000, 0, 0, NULL, 5));
	/* a page at the same address as a slab object is another allocation */
	apply(m, rec(HT_KA_PAGE, HT_KOP_ALLOC, 0xffff888000002000, 8192, 8192, NULL, 6));
	km = kmodel_kind_counts(m, HT_KA_KMALLOC);
	kc = kmodel_kind_counts(m, HT_KA_CACHE);
	assert_int_equal(km->allocs, 2);
	assert_int_equal(km->frees, 1);
	assert_int_equal(km->live_allocs, 1);
	assert_int_equal(km->live_bytes, 128);
	assert_int_equal(kc->allocs, 1);
	assert_int_equal(kc->frees, 1);
	assert_int_equal(kc->live_allocs, 0);
	assert_int_equal(kmodel_kind_counts(m, HT_KA_PAGE)->live_bytes, 8192);
	/* kmalloc grouped by size class, its waste the class's slack */
	assert_int_equal(kmodel_ncaches(m), 2);
	c = kmodel_cache_at(m, 0);
	assert_string_equal(c->name, "kmalloc-128");
	assert_int_equal(c->c.bytes_req, 220);
	assert_int_equal(c->c.bytes_alloc, 256);
	c = kmodel_cache_at(m, 1);
	assert_string_equal(c->name, "filp");
	assert_int_equal(c->c.bytes_alloc - c->c.bytes_req, 64);
	kmodel_free(m);
}

static void test_missed_and_untracked(void **state)
{
	struct kmodel *m = kmodel_new();
	struct ht_kmem r;
	const struct kmodel_counts *kc;
	size_t pos = 0, n = 0;

	(void)state;
	apply(m, rec(HT_KA_CACHE, HT_KOP_ALLOC, 0xffff888000003000, 64, 64, "c", 1));
	/* the same address again: its free happened where no event reached us */
	r = rec(HT_KA_CACHE, HT_KOP_ALLOC, 0xffff888000003000, 64, 64, "c", 2);
	r.hdr.flags = HT_F_KMEM_REUSED;
	apply(m, r);
	/* no room in the BPF table: counted, never reported as a leak */
	r = rec(HT_KA_CACHE, HT_KOP_ALLOC, 0xffff888000004000, 64, 64, "c", 3);
	r.hdr.flags = HT_F_KMEM_UNTRACKED;
	apply(m, r);
	/* a free of something never seen is ignored */
	apply(m, rec(HT_KA_CACHE, HT_KOP_FREE, 0xffff888000005000, 0, 0, NULL, 4));
	kc = kmodel_kind_counts(m, HT_KA_CACHE);
	assert_int_equal(kc->allocs, 3);
	assert_int_equal(kc->missed_frees, 1);
	assert_int_equal(kc->untracked, 1);
	assert_int_equal(kc->frees, 0);
	assert_int_equal(kc->live_allocs, 1);
	assert_int_equal(kmodel_cache_at(m, 0)->c.live_allocs, 1);
	while (kmodel_next(m, &pos))
		n++;
	assert_int_equal(n, 1);
	kmodel_free(m);
}

/* Many allocations freed in another order: the table's deletions keep every chain whole. */
static void test_model_table(void **state)
{
	struct kmodel *m = kmodel_new();
	enum { N = 20000 };

	(void)state;
	for (uint64_t i = 0; i < N; i++)
		apply(m, rec(HT_KA_KMALLOC, HT_KOP_ALLOC, 0xffff888000000000 + i * 64, 8, 8, NULL,
			     i + 1));
	for (uint64_t i = 0; i < N; i += 2)
		apply(m, rec(HT_KA_KMALLOC, HT_KOP_FREE, 0xffff888000000000 + i * 64, 0, 0, NULL,
			     N + i));
	assert_int_equal(kmodel_kind_counts(m, HT_KA_KMALLOC)->live_allocs, N / 2);
	for (uint64_t i = 1; i < N; i += 2)
		apply(m, rec(HT_KA_KMALLOC, HT_KOP_FREE, 0xffff888000000000 + i * 64, 0, 0, NULL,
			     2 * N + i));
	assert_int_equal(kmodel_kind_counts(m, HT_KA_KMALLOC)->frees, N);
	assert_int_equal(kmodel_kind_counts(m, HT_KA_KMALLOC)->live_allocs, 0);
	assert_int_equal(kmodel_kind_counts(m, HT_KA_KMALLOC)->live_bytes, 0);
	kmodel_free(m);
}

static void test_ksyms(void **state)
{
	static const char text[] = "ffffffff81000000 T _stext\n"
				   "ffffffff81000100 t helper\n"
				   "ffffffff81000200 D some_data\n"
				   "ffffffffc0001000 t mod_fn\t[mymod]\n";
	struct ksyms *k = ksyms_new();
	const char *module, *name;
	uint64_t off;

	(void)state;
	/* text may come cut anywhere (records of a recording) */
	ksyms_add_text(k, text, 30);
	ksyms_add_text(k, text + 30, sizeof(text) - 1 - 30);
	assert_null(ksyms_lookup(k, 0xffffffff80000000, &off, &module));
	name = ksyms_lookup(k, 0xffffffff81000110, &off, &module);
	assert_string_equal(name, "helper");
	assert_int_equal(off, 0x10);
	assert_null(module);
	/* data symbols are not functions */
	name = ksyms_lookup(k, 0xffffffff81000208, &off, &module);
	assert_string_equal(name, "helper");
	name = ksyms_lookup(k, 0xffffffffc0001004, &off, &module);
	assert_string_equal(name, "mod_fn");
	assert_string_equal(module, "mymod");
	ksyms_free(k);
}

static void test_khists(void **state)
{
	struct kreport kr;
	struct khists h;
	struct ht_kmem r;

	(void)state;
	assert_int_equal(kreport_init(&kr, model_new(), true), 0);
	kr.top = 10;
	kreport_hists_init(&h, 0);
	kreport_hists_attach(&h, &kr);
	for (int i = 0; i < 3; i++) {
		r = rec(HT_KA_PAGE, HT_KOP_ALLOC, 0xffffea0000000000 + (uint64_t)i * 64, 4096u << i,
			4096u << i, NULL, 1);
		r.order = (uint16_t)i;
		r.gfp_flags = i ? 0x820 : 0xcc0 | 0x100;
		apply(kr.km, r);
	}
	apply(kr.km, rec(HT_KA_PAGE, HT_KOP_FREE, 0xffffea0000000000, 0, 0, NULL, 11));
	assert_int_equal(h.order.total, 3);
	assert_int_equal(h.order.min, 0);
	assert_int_equal(h.order.max, 2);
	assert_int_equal(h.size[HT_KA_PAGE].total, 3);
	assert_int_equal(h.lifetime.total, 1);
	assert_int_equal(h.lifetime.sum, 10);
	assert_int_equal(h.ngfp, 3);
	for (size_t i = 0; i < h.ngfp; i++) {
		if (!strcmp(h.gfp[i].name, "GFP_ATOMIC"))
			assert_int_equal(h.gfp[i].count, 2);
		else
			assert_int_equal(h.gfp[i].count, 1);
	}
	kreport_hists_free(&h);
	kreport_fini(&kr);
	model_free(kr.m);
}

static void kstack(struct model *m, uint64_t id, uint64_t f0, uint64_t f1)
{
	struct ht_stack st;

	memset(&st, 0, sizeof(st));
	st.hdr.type = HT_REC_STACK;
	st.hdr.size = HT_STACK_HDR_SIZE + 16;
	st.hdr.flags = HT_F_KSTACK;
	st.hdr.pid = st.hdr.tid = 42;
	st.stack_id = id;
	st.nframes = 2;
	st.frames[0] = f0;
	st.frames[1] = f1;
	model_apply(m, &st.hdr);
}

/*
 * Under a pid filter an allocation whose stack shows an interrupt is counted as skipped, not
 * kept; without the filter it is kept and its stack marked. Its later free matches nothing.
 */
static void test_interrupt_allocations(void **state)
{
	static const char text[] = "ffffffff81000000 T sock_alloc_inode\n"
				   "ffffffff81000100 T __sys_socketpair\n"
				   "ffffffff81000200 T __alloc_skb\n"
				   "ffffffff81000300 T handle_softirqs\n"
				   "ffffffff81000400 T zzz_end\n";
	struct kreport kr;
	struct ht_kmem r;
	const struct kmodel_cache *c;

	(void)state;
	assert_int_equal(kreport_init(&kr, model_new(), true), 0);
	kr.top = 10;
	ksyms_add_text(kr.ks, text, sizeof(text) - 1);
	kstack(kr.m, 11, 0xffffffff81000010, 0xffffffff81000110); /* process context */
	kstack(kr.m, 13, 0xffffffff81000210, 0xffffffff81000310); /* in a softirq */
	r = rec(HT_KA_CACHE, HT_KOP_ALLOC, 0xffff888000001000, 768, 832, "sock_inode_cache", 1);
	r.hdr.flags = HT_F_KMEM_FILTERED;
	r.stack_id = 11;
	model_apply(kr.m, &r.hdr);
	r = rec(HT_KA_CACHE, HT_KOP_ALLOC, 0xffff888000002000, 256, 256, "skbuff_head_cache", 2);
	r.hdr.flags = HT_F_KMEM_FILTERED;
	r.stack_id = 13;
	model_apply(kr.m, &r.hdr);
	r = rec(HT_KA_CACHE, HT_KOP_FREE, 0xffff888000002000, 0, 0, NULL, 3);
	model_apply(kr.m, &r.hdr);
	assert_int_equal(kmodel_kind_counts(kr.km, HT_KA_CACHE)->allocs, 1);
	assert_int_equal(kmodel_kind_counts(kr.km, HT_KA_CACHE)->live_allocs, 1);
	assert_int_equal(kmodel_kind_counts(kr.km, HT_KA_CACHE)->frees, 0);
	assert_int_equal(kmodel_kind_counts(kr.km, HT_KA_CACHE)->interrupt_skipped, 1);
	assert_int_equal(kmodel_ncaches(kr.km), 2);
	c = kmodel_cache_at(kr.km, 1);
	assert_string_equal(c->name, "skbuff_head_cache");
	assert_int_equal(c->c.interrupt_skipped, 1);
	assert_int_equal(c->c.allocs, 0);
	/* system-wide (no filter flag): kept */
	r = rec(HT_KA_CACHE, HT_KOP_ALLOC, 0xffff888000003000, 256, 256, "skbuff_head_cache", 4);
	r.stack_id = 13;
	model_apply(kr.m, &r.hdr);
	assert_int_equal(c->c.allocs, 1);
	assert_int_equal(c->c.live_allocs, 1);
	assert_int_equal(c->c.interrupt_skipped, 1);
	/* a filtered allocation whose stack never arrived is kept: nothing says interrupt */
	r = rec(HT_KA_CACHE, HT_KOP_ALLOC, 0xffff888000004000, 256, 256, "skbuff_head_cache", 5);
	r.hdr.flags = HT_F_KMEM_FILTERED;
	r.stack_id = 99;
	model_apply(kr.m, &r.hdr);
	assert_int_equal(c->c.allocs, 2);
	kreport_fini(&kr);
	model_free(kr.m);
}

static void slabs_rec(struct slabs *s, const char *text, size_t len)
{
	struct {
		struct ht_maps m;
		char text[256];
	} r;

	assert_true(len <= sizeof(r.text));
	memset(&r, 0, sizeof(r));
	r.m.hdr.type = HT_REC_SLABS;
	r.m.hdr.size = (uint16_t)(HT_MAPS_HDR_SIZE + len);
	r.m.len = (uint32_t)len;
	memcpy(r.text, text, len);
	slabs_follow(s, &r.m.hdr);
}

static void add_name(void *ctx, const char *other)
{
	char *buf = ctx;

	strcat(buf, other);
	strcat(buf, ";");
}

/* Merged caches from SLABS records, which may cut a line anywhere. */
static void test_merged_caches(void **state)
{
	static const char text[] = "tcp_bind_bucket :A-0000128\neventpoll_epi :A-0000128\n"
				   "UNIX :A-0001152\nfib6_node :A-0000128\nbad-line\n";
	struct slabs *s = slabs_new();
	char buf[256] = "";
	size_t len;

	(void)state;
	assert_true(slabs_empty(s));
	slabs_rec(s, text, 20);
	slabs_rec(s, text + 20, sizeof(text) - 1 - 20);
	assert_int_equal(slabs_merged_with(s, "eventpoll_epi", add_name, buf), 2);
	assert_string_equal(buf, "fib6_node;tcp_bind_bucket;");
	assert_int_equal(slabs_merged_with(s, "UNIX", NULL, NULL), 0);
	assert_int_equal(slabs_merged_with(s, "sock_inode_cache", NULL, NULL), 0);
	/* the text stays whole for a recording, also after lookups */
	assert_string_equal(slabs_text(s, &len), text);
	assert_int_equal(len, sizeof(text) - 1);
	slabs_rec(s, "UNIX-STREAM :A-0001152\n", 23);
	assert_int_equal(slabs_merged_with(s, "UNIX", NULL, NULL), 1);
	slabs_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gfp_names),
		cmocka_unit_test(test_model_counts_and_waste),
		cmocka_unit_test(test_missed_and_untracked),
		cmocka_unit_test(test_model_table),
		cmocka_unit_test(test_ksyms),
		cmocka_unit_test(test_khists),
		cmocka_unit_test(test_interrupt_allocations),
		cmocka_unit_test(test_merged_caches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
