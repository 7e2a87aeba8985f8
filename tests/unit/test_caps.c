// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests of the kernel feature table: which kernels are refused, which fallbacks are said. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "source/live/caps.h"
#include "util/say.h"

static struct caps caps_all(void)
{
	struct caps c;

	for (int f = 0; f < CAPS_MAX; f++)
		c.have[f] = true;
	return c;
}

/* What caps_say_fallbacks says, in a string to free. */
static char *fallbacks_of(const struct caps *c)
{
	char *text = malloc(4096);

	assert_non_null(text);
	say_capture(text, 4096);
	caps_say_fallbacks(c);
	say_capture(NULL, 0);
	return text;
}

/* Linux 6.6 and later: nothing refused, no fallback. */
static void test_recent_kernel(void **state)
{
	struct caps c = caps_all();
	char why[160];
	char *text;

	(void)state;
	assert_null(caps_refusal(&c, why, sizeof(why)));
	text = fallbacks_of(&c);
	assert_string_equal(text, "");
	free(text);
}

/* Below 5.8 (no BPF ring buffer): refused in one line naming the feature and its release. */
static void test_no_ringbuf_refused(void **state)
{
	struct caps c = { 0 };
	char why[160];
	const char *msg;

	(void)state;
	msg = caps_refusal(&c, why, sizeof(why));
	assert_non_null(msg);
	assert_string_equal(msg,
			    "this kernel has no BPF ring buffer (Linux 5.8): heaptrail needs it");
	assert_null(strchr(msg, '\n'));
	c = caps_all();
	c.have[CAPS_RINGBUF] = false;
	assert_string_equal(caps_refusal(&c, why, sizeof(why)), msg);
}

/* 5.10: the ring buffer, nothing later; runs, with a fallback line for each missing feature. */
static void test_linux_5_10(void **state)
{
	struct caps c = { 0 };
	char why[160];
	char *text;

	(void)state;
	c.have[CAPS_RINGBUF] = true;
	assert_null(caps_refusal(&c, why, sizeof(why)));
	text = fallbacks_of(&c);
	assert_non_null(strstr(text, "fallback: no BPF attach cookies (Linux 5.15): "));
	assert_non_null(strstr(text, "fallback: no bpf_loop (Linux 5.17): "));
	assert_non_null(strstr(text, "fallback: no uprobe_multi links (Linux 6.6): "));
	free(text);
	/* 6.1: only uprobe_multi is missing */
	c = caps_all();
	c.have[CAPS_UPROBE_MULTI] = false;
	text = fallbacks_of(&c);
	assert_null(strstr(text, "bpf_loop"));
	assert_non_null(strstr(text, "uprobe_multi"));
	assert_int_equal(strchr(text, '\n') - text + 1, (long)strlen(text)); /* one line */
	free(text);
	assert_string_equal(caps_since(CAPS_BPF_LOOP), "5.17");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_recent_kernel),
		cmocka_unit_test(test_no_ringbuf_refused),
		cmocka_unit_test(test_linux_5_10),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
