/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel-function hooks (do_mmap, the munmap path, do_brk_flags, mprotect_fixup): which
 * function stands for each on this kernel, where its arguments are, and whether fexit or
 * kprobes can attach to it; the syscall tracepoints remain where neither can.
 */
#ifndef HT_HOOKS_H
#define HT_HOOKS_H

#include <stdbool.h>
#include "heaptrail.h" /* before the skeleton: it names the shared types */
#include "heaptrail.skel.h"

struct hooks;

/* Before load: decides per hook, fills the layouts and sets autoload. NULL when none apply. */
struct hooks *hooks_prepare(struct heaptrail_bpf *skel, bool wanted, bool verbose);
/* After load: attaches what was chosen, appending links through push(). -1 only on ENOMEM. */
int hooks_attach(struct hooks *h, struct heaptrail_bpf *skel,
		 int (*push)(void *ctx, struct bpf_link *link), void *ctx);
void hooks_free(struct hooks *h);

#endif
