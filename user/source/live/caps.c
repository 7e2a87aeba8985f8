// SPDX-License-Identifier: GPL-2.0-only
/*
 * The kernel features heaptrail needs or takes when it can: the table of what each gives, the
 * release that brought it and what a run does without it.
 */
#include "source/live/caps.h"
#include "util/say.h"

struct caps_desc {
	const char *name;
	const char *since;
	const char *without; /* NULL: required */
};

static const struct caps_desc caps_table[CAPS_MAX] = {
	[CAPS_RINGBUF] = { "BPF ring buffer", "5.8", NULL },
	[CAPS_ATTACH_COOKIE] = { "BPF attach cookies", "5.15",
				 "the allocator programs are loaded once per kind of probed "
				 "function, each knowing its function" },
	[CAPS_BPF_LOOP] = { "bpf_loop", "5.17",
			    "user stacks are walked by frame pointers only (--unwind fp): frames "
			    "in code built without them are missed" },
	[CAPS_UPROBE_MULTI] = { "uprobe_multi links", "6.6",
				"one perf-event uprobe per function, library and target" },
};

const char *caps_since(enum caps_feature f)
{
	return f < CAPS_MAX ? caps_table[f].since : "?";
}

const char *caps_refusal(const struct caps *c, char *buf, size_t len)
{
	for (int f = 0; f < CAPS_MAX; f++) {
		if (c->have[f] || caps_table[f].without)
			continue;
		snprintf(buf, len, "this kernel has no %s (Linux %s): heaptrail needs it",
			 caps_table[f].name, caps_table[f].since);
		return buf;
	}
	return NULL;
}

void caps_say_fallbacks(const struct caps *c)
{
	for (int k = 0; k < CAPS_MAX; k++)
		if (!c->have[k] && caps_table[k].without)
			say("fallback: no %s (Linux %s): %s", caps_table[k].name,
			    caps_table[k].since, caps_table[k].without);
}
