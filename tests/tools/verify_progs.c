// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loads every BPF program of heaptrail on its own, with this kernel's verifier, including those
 * this kernel cannot attach (kprobes without CONFIG_KPROBES): a program that only another kernel
 * would run still has to verify. fexit programs may be refused by policy (EPERM, ENOTSUPP), not
 * by the verifier. Prints one line per program; exits 1 if any failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "heaptrail.h"
#include "heaptrail.skel.h"

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* Plausible layouts: every slot used, one argument on the stack (mprotect_fixup on 6.18). */
static void set_layouts(struct heaptrail_bpf *s)
{
	for (int i = 0; i < HT_HOOK_MAX; i++) {
		struct ht_hook_layout *l = (struct ht_hook_layout *)&s->rodata->hook_layout[i];

		*l = (struct ht_hook_layout){
			.start = 1, .len = 2, .end = HT_ARG_NONE, .prot = 3, .flags = 6
		};
	}
	/* every slot read, from every argument position a tracepoint of ours has */
	for (int t = 0; t < HT_KTP_MAX; t++) {
		struct ht_ktp_layout *l = (struct ht_ktp_layout *)&s->rodata->ktp_layout[t];

		for (int k = 0; k < HT_KS_MAX; k++)
			l->idx[k] = (uint8_t)(k + t) % 10;
	}
	s->rodata->kmem_stacks = true;
}

int main(void)
{
	struct heaptrail_bpf *probe = heaptrail_bpf__open();
	struct bpf_program *p;
	int failed = 0, n = 0;

	libbpf_set_print(quiet);
	if (!probe)
		return 1;
	/* Each program twice: read-only switches make the verifier prune the paths they turn off. */
	for (int pass = 0; pass < 2; pass++)
		bpf_object__for_each_program(p, probe->obj)
		{
			const char *name = bpf_program__name(p);
			struct heaptrail_bpf *s = heaptrail_bpf__open();
			struct bpf_program *q;
			bool fexit = !strncmp(name, "fexit_", 6);
			int err;

			bpf_object__for_each_program(q, s->obj)
				bpf_program__set_autoload(q, !strcmp(bpf_program__name(q), name));
			set_layouts(s);
			s->rodata->capture_stacks = true;
			s->rodata->capture_free_stacks = pass;
			s->rodata->free_returns = !pass;
			s->rodata->hold_for_maps = pass;
			s->rodata->unwind_tables = pass;
			err = heaptrail_bpf__load(s);
			n++;
			if (!err) {
				struct bpf_prog_info info = {};
				__u32 len = sizeof(info);
				struct bpf_program *lp =
					bpf_object__find_program_by_name(s->obj, name);

				bpf_prog_get_info_by_fd(bpf_program__fd(lp), &info, &len);
				/* the verifier's work: what load time grows with */
				printf("ok      %s (%u instructions verified)\n", name,
				       info.verified_insns);
			} else if (fexit && (err == -EPERM || err == -524 /* ENOTSUPP */ ||
					     err == -EOPNOTSUPP || err == -ESRCH)) {
				/* ESRCH: the function is not in this kernel's BTF (do_mas_munmap on 6.18) */
				printf("refused %s (%s): allowed for fexit\n", name,
				       strerror(-err));
			} else {
				printf("FAILED  %s (%s)\n", name, strerror(-err));
				failed++;
			}
			heaptrail_bpf__destroy(s);
		}
	heaptrail_bpf__destroy(probe);
	printf("%d programs, %d failed\n", n, failed);
	return failed ? 1 : 0;
}
