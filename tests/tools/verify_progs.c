// SPDX-License-Identifier: GPL-2.0-only
/*
 * Loads every BPF program of heaptrail on its own, with this kernel's verifier, including those
 * this kernel cannot attach (kprobes without CONFIG_KPROBES): a program that only another kernel
 * would run still has to verify. fexit programs may be refused by policy (EPERM, ENOTSUPP), not
 * by the verifier. A program that needs a helper this kernel lacks is skipped, saying which and
 * since when (heaptrail loads its compat twin there). Prints one line per program; exits 1 if
 * any failed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "heaptrail.h"
#include "heaptrail.skel.h"

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

/* The programs whose unwinder runs in a bpf_loop (5.17): kernels without get alloc.bpf.c's compat. */
static const char *const needs_bpf_loop[] = { "alloc_enter", "alloc_return", "alloc_enter_multi",
					      "alloc_return_multi" };

static bool verify_needs_loop(const char *name)
{
	for (size_t i = 0; i < sizeof(needs_bpf_loop) / sizeof(needs_bpf_loop[0]); i++)
		if (!strcmp(name, needs_bpf_loop[i]))
			return true;
	return false;
}

/* Does the kernel's enum bpf_func_id (its BTF) name this helper? */
static bool verify_kernel_knows(const char *helper)
{
	struct btf *btf = btf__load_vmlinux_btf();
	const struct btf_type *t;
	bool found = false;
	int id;

	id = btf ? btf__find_by_name_kind(btf, "bpf_func_id", BTF_KIND_ENUM) : -1;
	t = id < 0 ? NULL : btf__type_by_id(btf, id);
	for (int i = 0; t && i < btf_vlen(t); i++)
		found |= !strcmp(btf__name_by_offset(btf, btf_enum(t)[i].name_off), helper);
	btf__free(btf);
	return found;
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
	bool have_loop, have_func_arg;

	libbpf_set_print(quiet);
	if (!probe)
		return 1;
	have_loop = libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_loop, NULL) == 1;
	/* what the fexit programs read their arguments with (a kprobe cannot call it to probe) */
	have_func_arg = verify_kernel_knows("BPF_FUNC_get_func_arg");
	/*
	 * Each program three times: read-only switches make the verifier prune the paths they turn
	 * off. The third is sampled mode (--sample-bytes), whose paths the others prune: 6.1's
	 * verifier once refused only it.
	 */
	for (int pass = 0; pass < 3; pass++)
		bpf_object__for_each_program(p, probe->obj)
		{
			const char *name = bpf_program__name(p);
			struct heaptrail_bpf *s;
			struct bpf_program *q;
			bool fexit = !strncmp(name, "fexit_", 6);
			int err;

			if (!have_loop && verify_needs_loop(name)) {
				printf("skipped %s: needs bpf_loop (Linux 5.17)\n", name);
				continue;
			}
			if (!have_func_arg && fexit) {
				printf("skipped %s: needs bpf_get_func_arg (Linux 5.17)\n", name);
				continue;
			}
			s = heaptrail_bpf__open();
			if (!s)
				return 1;
			bpf_object__for_each_program(q, s->obj)
				bpf_program__set_autoload(q, !strcmp(bpf_program__name(q), name));
			set_layouts(s);
			s->rodata->capture_stacks = true;
			s->rodata->capture_free_stacks = pass > 0;
			s->rodata->free_returns = pass == 0;
			s->rodata->hold_for_maps = pass > 0;
			s->rodata->unwind_tables = pass > 0;
			s->rodata->sample_bytes = pass == 2 ? 65536 : 0;
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
