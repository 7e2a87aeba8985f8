// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the Prometheus exposition (serve's /metrics): the model fed synthetic records,
 * the text written to memory and read back line by line; no BPF, no HTTP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "model/model.h"
#include "output/prom_out.h"

static uint64_t clock_ns = 1000;

static void prom_malloc(struct model *m, uint32_t pid, uint64_t size, uint64_t addr)
{
	struct ht_alloc a = { .hdr = { .type = HT_REC_ALLOC,
				       .size = sizeof(a),
				       .ts_ns = clock_ns++,
				       .pid = pid,
				       .tid = pid },
			      .fn = HT_FN_MALLOC,
			      .args = { size },
			      .ret = addr,
			      .addr = addr };

	model_apply(m, &a.hdr);
}

static void prom_comm(struct model *m, uint32_t pid, const char *comm)
{
	struct ht_comm c = { .hdr = { .type = HT_REC_COMM,
				      .size = sizeof(c),
				      .ts_ns = clock_ns++,
				      .pid = pid,
				      .tid = pid } };

	strncpy(c.comm, comm, sizeof(c.comm) - 1);
	model_apply(m, &c.hdr);
}

static const char *prom_cgroup(void *ctx, const struct model_proc *p)
{
	(void)ctx;
	return p->pid == 10 ? "/system.slice/a\"b\\c.service" : "/";
}

static char *prom_render(const struct prom_out *o, bool om)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(prom_out_write(f, o, om), 0);
	fclose(f);
	return buf;
}

/* How many lines of text start with prefix. */
static int prom_lines(const char *text, const char *prefix)
{
	int n = 0;
	size_t l = strlen(prefix);

	for (const char *s = text; s && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL)
		n += !strncmp(s, prefix, l);
	return n;
}

static void test_text_format(void **state)
{
	struct model *m = model_new();
	struct prom_out o = { .model = m, .cgroup = prom_cgroup, .forgotten = 3 };
	char *t;

	(void)state;
	prom_malloc(m, 10, 100, 0x1000);
	prom_malloc(m, 10, 50, 0x2000);
	prom_comm(m, 10, "we\"ird\\");
	prom_malloc(m, 20, 7, 0x1000);
	t = prom_render(&o, false);
	/* label values escaped; counters named with _total in the text format's TYPE too */
	assert_int_equal(prom_lines(t, "heaptrail_live_bytes{pid=\"10\",comm=\"we\\\"ird\\\\\","
				       "cgroup=\"/system.slice/a\\\"b\\\\c.service\"} 150\n"),
			 1);
	assert_int_equal(prom_lines(t, "heaptrail_live_bytes{pid=\"20\",comm=\"\",cgroup=\"/\"} 7"),
			 1);
	assert_int_equal(prom_lines(t, "# TYPE heaptrail_allocations_total counter"), 1);
	assert_int_equal(prom_lines(t, "heaptrail_allocations_total{pid=\"10\""), 1);
	assert_int_equal(prom_lines(t, "# TYPE heaptrail_live_bytes gauge"), 1);
	assert_int_equal(prom_lines(t, "heaptrail_processes_forgotten_total 3"), 1);
	assert_int_equal(prom_lines(t, "heaptrail_processes{state=\"live\"} 2"), 1);
	assert_int_equal(prom_lines(t, "heaptrail_lost_total{kind="), HT_LOST_MAX);
	assert_int_equal(prom_lines(t, "# UNIT"), 0);
	assert_int_equal(prom_lines(t, "# EOF"), 0);
	/* no space model: no heap, mapped, RSS or fault families */
	assert_int_equal(prom_lines(t, "heaptrail_rss_bytes"), 0);
	/* the largest process first */
	assert_true(strstr(t, "heaptrail_live_bytes{pid=\"10\"") <
		    strstr(t, "heaptrail_live_bytes{pid=\"20\""));
	free(t);
	model_free(m);
}

static void test_openmetrics_and_top(void **state)
{
	struct model *m = model_new();
	struct prom_out o = { .model = m, .top = 1 };
	char *t;

	(void)state;
	prom_malloc(m, 10, 100, 0x1000);
	prom_malloc(m, 20, 700, 0x1000);
	prom_malloc(m, 30, 7, 0x1000);
	t = prom_render(&o, true);
	/* OpenMetrics: a counter family without _total, its samples with; units; # EOF last */
	assert_int_equal(prom_lines(t, "# TYPE heaptrail_allocations counter"), 1);
	assert_int_equal(prom_lines(t, "# UNIT heaptrail_live_bytes bytes"), 1);
	assert_int_equal(prom_lines(t, "# UNIT process_cpu_seconds seconds"), 1);
	assert_int_equal(prom_lines(t, "heaptrail_allocations_total{"), 1);
	assert_string_equal(t + strlen(t) - 6, "# EOF\n");
	/* --top-processes 1: the largest only, the others counted */
	assert_int_equal(prom_lines(t, "heaptrail_live_bytes{pid=\"20\""), 1);
	assert_int_equal(prom_lines(t, "heaptrail_live_bytes{"), 1);
	assert_int_equal(prom_lines(t, "heaptrail_processes_unlabelled 2"), 1);
	free(t);
	assert_true(prom_out_wants_openmetrics("application/openmetrics-text;version=1.0.0,"
					       "text/plain;version=0.0.4;q=0.5"));
	assert_false(prom_out_wants_openmetrics("text/plain"));
	assert_false(prom_out_wants_openmetrics(NULL));
	model_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_format),
		cmocka_unit_test(test_openmetrics_and_top),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
