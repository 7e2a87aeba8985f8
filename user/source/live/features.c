// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel feature probes: each loads (and attaches) the smallest program that needs the feature,
 * as libbpf's own probes do. The kernel's BTF is read once for the hooks and -k.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "source/live/features.h"

static struct btf *features_vmlinux;

/* "return 0": what every probe loads */
static const struct bpf_insn features_insns[] = {
	{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
	{ .code = BPF_JMP | BPF_EXIT },
};

/*
 * uprobe_multi links came with Linux 6.6 (commit 89ae89f53d20). Probe as libbpf does: a
 * kernel that has them answers EBADF for a path that is a directory; others EINVAL or so.
 */
bool features_uprobe_multi(void)
{
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_TRACE_UPROBE_MULTI);
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	unsigned long offset = 0;
	int prog, link, err;

	prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, NULL, "GPL", features_insns, 2, &po);
	if (prog < 0)
		return false;
	lo.uprobe_multi.path = "/";
	lo.uprobe_multi.offsets = &offset;
	lo.uprobe_multi.cnt = 1;
	link = bpf_link_create(prog, -1, BPF_TRACE_UPROBE_MULTI, &lo);
	err = errno;
	if (link >= 0)
		close(link);
	close(prog);
	return link < 0 && err == EBADF;
}

/*
 * fexit programs (BPF trampolines, Linux 5.5) can be refused for a given function: at load
 * (fentry not permitted on this machine; more arguments than the trampoline supports on 6.1)
 * or at attach. So probe the function itself with a program that does nothing.
 */
int features_fexit(int btf_id)
{
	LIBBPF_OPTS(bpf_prog_load_opts, po, .expected_attach_type = BPF_TRACE_FEXIT,
		    .attach_btf_id = (__u32)btf_id);
	int prog, link, err;

	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, NULL, "GPL", features_insns, 2, &po);
	if (prog < 0)
		return -1;
	link = bpf_link_create(prog, 0, BPF_TRACE_FEXIT, NULL);
	err = errno;
	if (link >= 0)
		close(link);
	close(prog);
	errno = err;
	return link < 0 ? -1 : 0;
}

bool features_helper_named(const char *name)
{
	const struct btf *btf = features_btf();
	const struct btf_type *t;
	const struct btf_enum *e;
	int id;

	id = btf ? btf__find_by_name_kind(btf, "bpf_func_id", BTF_KIND_ENUM) : -1;
	t = id < 0 ? NULL : btf__type_by_id(btf, id);
	if (!t)
		return false;
	e = btf_enum(t);
	for (int i = 0; i < btf_vlen(t); i++)
		if (!strcmp(btf__name_by_offset(btf, e[i].name_off), name))
			return true;
	return false;
}

/* The prototype a FUNC or a typedef of a function pointer names, NULL if none. */
static const struct btf_type *features_proto(const char *name, int kind)
{
	const struct btf *btf = features_btf();
	const struct btf_type *t;
	int id;

	id = btf ? btf__find_by_name_kind(btf, name, kind) : -1;
	t = id < 0 ? NULL : btf__type_by_id(btf, id);
	if (t && kind == BTF_KIND_TYPEDEF) {
		t = btf__type_by_id(btf, t->type);
		if (t && !btf_is_ptr(t))
			return NULL;
	}
	t = t ? btf__type_by_id(btf, t->type) : NULL;
	return t && btf_is_func_proto(t) ? t : NULL;
}

int features_typedef_params(const char *event)
{
	const struct btf_type *proto;
	char name[128];

	snprintf(name, sizeof(name), "btf_trace_%s", event);
	proto = features_proto(name, BTF_KIND_TYPEDEF);
	return proto ? btf_vlen(proto) : -1;
}

bool features_typedef_param_is_ptr(const char *event, unsigned i)
{
	const struct btf *btf = features_btf();
	const struct btf_type *proto, *t;
	char name[128];

	snprintf(name, sizeof(name), "btf_trace_%s", event);
	proto = features_proto(name, BTF_KIND_TYPEDEF);
	if (!proto || i >= btf_vlen(proto))
		return false;
	t = btf__type_by_id(btf, btf_params(proto)[i].type);
	while (t && (btf_is_mod(t) || btf_is_typedef(t)))
		t = btf__type_by_id(btf, t->type);
	return t && btf_is_ptr(t);
}

int features_func_nparams(const char *func)
{
	const struct btf_type *proto = features_proto(func, BTF_KIND_FUNC);

	return proto ? btf_vlen(proto) : -1;
}

bool features_kprobes(void)
{
	return !access("/sys/bus/event_source/devices/kprobe/type", F_OK) ||
	       !access("/sys/kernel/tracing/kprobe_events", F_OK) ||
	       !access("/sys/kernel/debug/tracing/kprobe_events", F_OK);
}

/* libbpf's probes: a map of the type, a program that calls the helper. */
void features_probe_caps(struct caps *c)
{
	c->have[CAPS_RINGBUF] = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1;
	c->have[CAPS_ATTACH_COOKIE] =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_get_attach_cookie, NULL) ==
		1;
	c->have[CAPS_BPF_LOOP] =
		libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE, BPF_FUNC_loop, NULL) == 1;
	c->have[CAPS_UPROBE_MULTI] = features_uprobe_multi();
}

const struct btf *features_btf(void)
{
	if (!features_vmlinux)
		features_vmlinux = btf__load_vmlinux_btf();
	return features_vmlinux;
}

void features_release(void)
{
	btf__free(features_vmlinux);
	features_vmlinux = NULL;
}

bool features_name_matches(const char *name, const char *alternatives)
{
	size_t n = strlen(name);

	for (const char *p = alternatives; p && *p;) {
		size_t len = strcspn(p, "|");

		if (len == n && !strncmp(p, name, n))
			return true;
		p += len + (p[len] == '|');
	}
	return false;
}

int features_params(const char *func, unsigned skip, unsigned max, const char *const *names,
		    size_t n, uint8_t *idx)
{
	const struct btf *btf = features_btf();
	const struct btf_type *fn, *proto;
	const struct btf_param *params;
	int id;

	memset(idx, 0xff, n);
	id = btf ? btf__find_by_name_kind(btf, func, BTF_KIND_FUNC) : -1;
	fn = id < 0 ? NULL : btf__type_by_id(btf, id);
	proto = fn ? btf__type_by_id(btf, fn->type) : NULL;
	if (!proto || !btf_is_func_proto(proto))
		return -1;
	params = btf_params(proto);
	for (size_t k = 0; k < n; k++)
		for (unsigned i = skip; names[k] && i < btf_vlen(proto) && i < skip + max; i++)
			if (features_name_matches(btf__name_by_offset(btf, params[i].name_off),
						  names[k]))
				idx[k] = (uint8_t)(i - skip);
	return 0;
}
