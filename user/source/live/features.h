/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel features that decide how heaptrail attaches, probed in one place, each with the
 * release that brought it; and the running kernel's BTF, loaded once for all who read it.
 */
#ifndef HT_FEATURES_H
#define HT_FEATURES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "source/live/caps.h"

struct btf;

/* Fills c from the running kernel. */
void features_probe_caps(struct caps *c);

/* uprobe_multi links: Linux 6.6. */
bool features_uprobe_multi(void);
/* Can an fexit program attach to the function with this BTF id? 0, or -1 with the kernel's errno. */
int features_fexit(int btf_id);
/*
 * Does the kernel know this helper ("BPF_FUNC_get_func_arg")? Read from its BTF (enum
 * bpf_func_id), as bpf_core_enum_value_exists does in BPF: for program types libbpf's helper
 * probe cannot load.
 */
bool features_helper_named(const char *name);
/* kprobes: the kprobe PMU or the legacy tracefs interface (CONFIG_KPROBES). */
bool features_kprobes(void);

/* vmlinux BTF, read at the first call and kept until features_release(); NULL with errno. */
const struct btf *features_btf(void);
void features_release(void);
/*
 * The parameters of raw tracepoint event's prototype (btf_trace_<event>, __data included: the
 * kernel has the event since 5.5 when there is one), -1 when BTF has none.
 */
int features_typedef_params(const char *event);
/* Is parameter i (0: __data) of btf_trace_<event>'s prototype a pointer? */
bool features_typedef_param_is_ptr(const char *event, unsigned i);
/* How many parameters a kernel function (BTF_KIND_FUNC) takes, -1 when BTF has none. */
int features_func_nparams(const char *func);
/* Is name one of the '|'-separated alternatives ("flags|vm_flags")? */
bool features_name_matches(const char *name, const char *alternatives);
/*
 * Where a kernel function (BTF_KIND_FUNC) takes each of n named parameters: idx[k] is the
 * position of the parameter called names[k] (alternatives as above; NULL: not wanted) among
 * parameters skip .. skip+max-1, counted from skip, or 0xff where it has none. -1 when the
 * function or its prototype is not in BTF.
 */
int features_params(const char *func, unsigned skip, unsigned max, const char *const *names,
		    size_t n, uint8_t *idx);

#endif
