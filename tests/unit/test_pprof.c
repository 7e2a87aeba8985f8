// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the pprof writer: synthetic records in, the gzipped profile unpacked back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <zlib.h>
#include "profile.pb-c.h"
#include "model/dists.h"
#include "model/model.h"
#include "output/pprof_out.h"
#include "report/leaks.h"
#include "symbols/symbolize.h"

struct fixture {
	struct model *m;
	struct leaks *l;
	struct dists *d;
	struct symbolizer *sym;
	uint64_t ts;
};

static void feed(struct fixture *f, const struct ht_hdr *rec)
{
	model_apply(f->m, rec);
	dists_apply(f->d, rec);
}

static void stack(struct fixture *f, uint64_t id, uint64_t leaf, uint64_t caller)
{
	struct ht_stack r = { .hdr = { .type = HT_REC_STACK,
				       .size = HT_STACK_HDR_SIZE + 16,
				       .ts_ns = ++f->ts,
				       .pid = 3,
				       .tid = 3 },
			      .stack_id = id,
			      .nframes = 2,
			      .frames = { leaf, caller } };

	feed(f, &r.hdr);
}

static void alloc_rec(struct fixture *f, unsigned fn, uint64_t arg, uint64_t addr, uint64_t sid)
{
	struct ht_alloc a = { .hdr = { .type = HT_REC_ALLOC,
				       .size = sizeof(a),
				       .ts_ns = ++f->ts,
				       .pid = 3,
				       .tid = 3 },
			      .fn = fn,
			      .args = { arg },
			      .ret = fn == HT_FN_FREE ? 0 : addr,
			      .addr = addr,
			      .stack_id = sid,
			      .caller = 0x400000 };

	feed(f, &a.hdr);
}

/* The profile written for f's model, gunzipped and unpacked. */
static Perftools__Profiles__Profile *write_and_read(struct fixture *f)
{
	struct pprof_out o = { .model = f->m, .leaks = f->l, .dists = f->d, .sym = f->sym };
	char *gz = NULL;
	size_t gzlen = 0;
	FILE *mem = open_memstream(&gz, &gzlen);
	uint8_t out[1 << 16];
	z_stream z = { 0 };
	Perftools__Profiles__Profile *p;

	assert_non_null(mem);
	assert_int_equal(pprof_out_write(mem, "mem", &o, f->ts), 0);
	assert_int_equal(fclose(mem), 0);
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (uint8_t *)gz;
	z.avail_in = (uInt)gzlen;
	z.next_out = out;
	z.avail_out = sizeof(out);
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	p = perftools__profiles__profile__unpack(NULL, sizeof(out) - z.avail_out, out);
	inflateEnd(&z);
	free(gz);
	assert_non_null(p);
	return p;
}

static const char *str(const Perftools__Profiles__Profile *p, int64_t i)
{
	assert_true(i >= 0 && (size_t)i < p->n_string_table);
	return p->string_table[i];
}

/* Per stack: alloc_* count every allocation, inuse_* what is still live; pid and comm labels. */
static void test_values_per_stack(void **state)
{
	struct fixture f = { .m = model_new(), .sym = symbolize_new() };
	Perftools__Profiles__Profile *p;
	int seen = 0;

	(void)state;
	f.l = leaks_new(f.m, 0);
	f.d = dists_new(f.m, 0, true);
	symbolize_set_offline(f.sym, true);
	stack(&f, 0x11, 0x401000, 0x402000);
	stack(&f, 0x22, 0x403000, 0x402000);
	alloc_rec(&f, HT_FN_MALLOC, 100, 0x1000, 0x11);
	alloc_rec(&f, HT_FN_MALLOC, 50, 0x2000, 0x11);
	alloc_rec(&f, HT_FN_FREE, 0x2000, 0x2000, 0);
	alloc_rec(&f, HT_FN_MALLOC, 7, 0x3000, 0x22);
	p = write_and_read(&f);
	assert_int_equal(p->n_sample_type, 4);
	assert_string_equal(str(p, p->sample_type[0]->type), "alloc_objects");
	assert_string_equal(str(p, p->sample_type[1]->unit), "bytes");
	assert_string_equal(str(p, p->sample_type[3]->type), "inuse_space");
	assert_string_equal(str(p, p->default_sample_type), "inuse_space");
	assert_string_equal(str(p, 0), "");
	assert_int_equal(p->n_sample, 2);
	for (size_t i = 0; i < p->n_sample; i++) {
		const Perftools__Profiles__Sample *s = p->sample[i];
		const Perftools__Profiles__Location *leaf = NULL;

		assert_int_equal(s->n_value, 4);
		assert_int_equal(s->n_location_id, 2);
		for (size_t k = 0; k < p->n_location; k++)
			if (p->location[k]->id == s->location_id[0])
				leaf = p->location[k];
		assert_non_null(leaf);
		assert_int_equal(leaf->n_line, 1);
		if (leaf->address == 0x401000) {
			assert_int_equal(s->value[0], 2);
			assert_int_equal(s->value[1], 150);
			assert_int_equal(s->value[2], 1);
			assert_int_equal(s->value[3], 100);
			seen |= 1;
		} else {
			assert_int_equal(leaf->address, 0x403000);
			assert_int_equal(s->value[1], 7);
			assert_int_equal(s->value[3], 7);
			seen |= 2;
		}
		assert_int_equal(s->n_label, 2);
		assert_string_equal(str(p, s->label[0]->key), "pid");
		assert_int_equal(s->label[0]->num, 3);
		assert_string_equal(str(p, s->label[1]->key), "comm");
	}
	assert_int_equal(seen, 3);
	/* the caller both stacks share is one location */
	assert_int_equal(p->sample[0]->location_id[1], p->sample[1]->location_id[1]);
	perftools__profiles__profile__free_unpacked(p, NULL);
	dists_free(f.d);
	leaks_free(f.l);
	symbolize_free(f.sym);
	model_free(f.m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_per_stack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
