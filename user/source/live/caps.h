/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The kernel features heaptrail needs or takes when it can, with the first Linux release that
 * has each: why a kernel is refused, and which fallbacks a run takes (-v). BPF-free: the
 * probing is features.c's; this is the table and what follows from it.
 */
#ifndef HT_CAPS_H
#define HT_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum caps_feature {
	CAPS_RINGBUF,	    /* BPF ring buffer: required */
	CAPS_ATTACH_COOKIE, /* bpf_get_attach_cookie on perf-event uprobes */
	CAPS_BPF_LOOP,	    /* bpf_loop: the unwinder's walk */
	CAPS_UPROBE_MULTI,  /* uprobe_multi links */
	CAPS_MAX,
};

struct caps {
	bool have[CAPS_MAX];
};

/* "5.8" and so on: the first release with the feature. */
const char *caps_since(enum caps_feature f);
/*
 * NULL when heaptrail can run on a kernel with these features, else the reason, one line
 * without the "heaptrail: " prefix, in buf.
 */
const char *caps_refusal(const struct caps *c, char *buf, size_t len);
/* Says one "fallback: ..." line per feature missing that has one (-v). */
void caps_say_fallbacks(const struct caps *c);

#endif
