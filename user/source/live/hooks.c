// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel-function hooks: one table of candidate functions per hook, their argument names in
 * BTF, and the probes that decide between fexit, kprobes and nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "source/live/features.h"
#include "source/live/hooks.h"
#include "util/say.h"

enum hook_mode { MODE_NONE, MODE_FEXIT, MODE_KPROBE };

struct hook_desc {
	const char *func;
	enum ht_hook hook;
	const char *group; /* hooks of one group stand for one another: the first present wins */
	/* BTF parameter names of start, len, end, prot, flags ("a|b": either) */
	const char *params[5];
};

/* Designated by enum ht_hook: a group's first present function (in enum order) wins. */
static const struct hook_desc hook_descs[HT_HOOK_MAX] = {
	[HT_HOOK_DO_MMAP] = { "do_mmap",
			      HT_HOOK_DO_MMAP,
			      "mmap",
			      { "addr", "len", NULL, "prot", "flags" } },
	[HT_HOOK_DO_VMI_MUNMAP] = { "do_vmi_munmap",
				    HT_HOOK_DO_VMI_MUNMAP,
				    "munmap",
				    { "start", "len" } },
	[HT_HOOK_DO_MAS_MUNMAP] = { "do_mas_munmap",
				    HT_HOOK_DO_MAS_MUNMAP,
				    "munmap",
				    { "start", "len" } },
	/* before 6.1 munmap(2) calls __do_munmap; do_munmap is the way in for mremap and mmap */
	[HT_HOOK___DO_MUNMAP] = { "__do_munmap",
				  HT_HOOK___DO_MUNMAP,
				  "munmap",
				  { "start", "len" } },
	[HT_HOOK_DO_MUNMAP] = { "do_munmap", HT_HOOK_DO_MUNMAP, "munmap", { "start", "len" } },
	[HT_HOOK_DO_BRK_FLAGS] = { "do_brk_flags",
				   HT_HOOK_DO_BRK_FLAGS,
				   "brk",
				   { "addr", "len", NULL, NULL, "flags|vm_flags" } },
	[HT_HOOK_MPROTECT_FIXUP] = { "mprotect_fixup",
				     HT_HOOK_MPROTECT_FIXUP,
				     "mprotect",
				     { "start", NULL, "end", NULL, "newflags" } },
};

struct hooks {
	enum hook_mode mode;
	bool chosen[HT_HOOK_MAX];
	int btf_id[HT_HOOK_MAX];
	bool verbose;
};

/* Fills the layout from the function's BTF prototype; false when a parameter is missing. */
static bool hooks_layout(const struct hook_desc *d, struct ht_hook_layout *l)
{
	uint8_t idx[5];
	uint8_t *slots[5] = { &l->start, &l->len, &l->end, &l->prot, &l->flags };

	if (features_params(d->func, 0, 255, d->params, 5, idx))
		return false;
	for (int k = 0; k < 5; k++) {
		*slots[k] = idx[k];
		if (d->params[k] && idx[k] == HT_ARG_NONE)
			return false;
	}
	return true;
}

static struct bpf_program *prog_for(struct heaptrail_bpf *skel, const char *kind, const char *func)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_%s", kind, func);
	return bpf_object__find_program_by_name(skel->obj, name);
}

static void autoload_none(struct heaptrail_bpf *skel)
{
	static const char *const kinds[] = { "fexit", "kprobe", "kretprobe" };

	for (int i = 0; i < HT_HOOK_MAX; i++)
		for (int k = 0; k < 3; k++)
			bpf_program__set_autoload(prog_for(skel, kinds[k], hook_descs[i].func),
						  false);
}

struct hooks *hooks_prepare(struct heaptrail_bpf *skel, bool wanted, bool verbose)
{
	const struct btf *btf;
	struct hooks *h;
	char fexit_why[128] = "";
	int nchosen = 0;

	autoload_none(skel);
	if (!wanted)
		return NULL;
	h = calloc(1, sizeof(*h));
	btf = features_btf();
	if (!h || !btf) {
		free(h);
		return NULL;
	}
	h->verbose = verbose;
	for (int i = 0; i < HT_HOOK_MAX; i++) {
		const struct hook_desc *d = &hook_descs[i];
		struct ht_hook_layout *l = (struct ht_hook_layout *)&skel->rodata->hook_layout[i];
		bool group_taken = false;
		int id;

		for (int k = 0; k < i; k++)
			group_taken |= h->chosen[k] && !strcmp(hook_descs[k].group, d->group);
		if (group_taken)
			continue;
		id = btf__find_by_name_kind(btf, d->func, BTF_KIND_FUNC);
		if (id < 0)
			continue;
		if (!hooks_layout(d, l)) {
			if (verbose)
				say("hook %s: its parameters are not the ones expected on this "
				    "kernel, skipped",
				    d->func);
			continue;
		}
		h->chosen[i] = true;
		h->btf_id[i] = id;
		nchosen++;
	}

	/* One mode for all hooks: fexit if every chosen function takes it, else kprobes. */
	h->mode = nchosen ? MODE_FEXIT : MODE_NONE;
	/* the fexit programs read arguments with bpf_get_func_arg */
	if (nchosen && !features_helper_named("BPF_FUNC_get_func_arg")) {
		snprintf(fexit_why, sizeof(fexit_why),
			 "fexit refused: no bpf_get_func_arg (Linux 5.17)");
		h->mode = features_kprobes() ? MODE_KPROBE : MODE_NONE;
	}
	for (int i = 0; i < HT_HOOK_MAX && h->mode == MODE_FEXIT; i++) {
		if (h->chosen[i] && features_fexit(h->btf_id[i])) {
			snprintf(fexit_why, sizeof(fexit_why), "fexit on %s refused (%s)",
				 hook_descs[i].func, strerror(errno));
			h->mode = features_kprobes() ? MODE_KPROBE : MODE_NONE;
		}
	}
	if (verbose) {
		if (h->mode == MODE_FEXIT)
			say("kernel-function hooks: fexit");
		else if (h->mode == MODE_KPROBE)
			say("kernel-function hooks: kprobes (%s)", fexit_why);
		else
			say("kernel-function hooks: none: %s; kprobes not available (no kprobe PMU "
			    "nor kprobe_events: a kernel without CONFIG_KPROBES); memory syscalls "
			    "come from the syscall tracepoints, and mappings no syscall makes "
			    "(execve's) are not seen",
			    fexit_why[0] ? fexit_why : "no hookable function");
	}
	for (int i = 0; i < HT_HOOK_MAX; i++) {
		if (!h->chosen[i] || h->mode == MODE_NONE)
			continue;
		if (h->mode == MODE_FEXIT) {
			bpf_program__set_autoload(prog_for(skel, "fexit", hook_descs[i].func),
						  true);
		} else {
			bpf_program__set_autoload(prog_for(skel, "kprobe", hook_descs[i].func),
						  true);
			bpf_program__set_autoload(prog_for(skel, "kretprobe", hook_descs[i].func),
						  true);
		}
	}
	return h;
}

static int attach_one(struct hooks *h, struct bpf_program *prog, const char *func,
		      int (*push)(void *, struct bpf_link *), void *ctx)
{
	struct bpf_link *link = bpf_program__attach(prog);

	if (!link) {
		if (h->verbose)
			say("hook %s (%s): %s, skipped", func, bpf_program__name(prog),
			    strerror(errno));
		return 0;
	}
	if (h->verbose)
		say("attached %s", bpf_program__name(prog));
	if (push(ctx, link)) {
		bpf_link__destroy(link);
		return -1;
	}
	return 0;
}

int hooks_attach(struct hooks *h, struct heaptrail_bpf *skel,
		 int (*push)(void *ctx, struct bpf_link *link), void *ctx)
{
	if (!h || h->mode == MODE_NONE)
		return 0;
	for (int i = 0; i < HT_HOOK_MAX; i++) {
		const char *func = hook_descs[i].func;

		if (!h->chosen[i])
			continue;
		if (h->mode == MODE_FEXIT) {
			if (attach_one(h, prog_for(skel, "fexit", func), func, push, ctx))
				return -1;
			continue;
		}
		/* The return first: an entry without its return would leave a frame behind. */
		if (attach_one(h, prog_for(skel, "kretprobe", func), func, push, ctx) ||
		    attach_one(h, prog_for(skel, "kprobe", func), func, push, ctx))
			return -1;
	}
	return 0;
}

void hooks_free(struct hooks *h)
{
	free(h);
}
