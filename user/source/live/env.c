// SPDX-License-Identifier: GPL-2.0-only
/*
 * The environment the live source needs: privileges, the kernel's BTF, tracefs (mounted
 * when nobody has).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "source/live/tracer_int.h"
#include "util/say.h"

static bool env_has_caps(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {};

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &hdr, data))
		return false;
	/* CAP_BPF (39) and CAP_PERFMON (38) live in the second word; CAP_SYS_ADMIN covers both. */
	if (data[0].effective & (1u << CAP_SYS_ADMIN))
		return true;
	return (data[1].effective & (1u << (39 - 32))) && (data[1].effective & (1u << (38 - 32)));
}

static bool env_has_sys_admin(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2] = {};

	return !syscall(SYS_capget, &hdr, data) && (data[0].effective & (1u << CAP_SYS_ADMIN));
}

const char *env_perf_hint(int err)
{
	FILE *f;
	int level = 0;

	if (err != EACCES && err != EPERM)
		return "";
	f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	if (!f)
		return "";
	if (fscanf(f, "%d", &level) != 1)
		level = 0;
	fclose(f);
	/*
	 * Debian's and Ubuntu's kernels add a level 3, their default, under which opening a
	 * perf event (tracepoints, uprobes before uprobe_multi) needs CAP_SYS_ADMIN: CAP_PERFMON
	 * is not enough.
	 */
	if (level < 3 || env_has_sys_admin())
		return "";
	return " (kernel.perf_event_paranoid is 3: perf events need CAP_SYS_ADMIN, or "
	       "sysctl kernel.perf_event_paranoid=2)";
}

/* libbpf finds tracepoint ids through tracefs; mount it when nobody has. */
static int env_tracefs(bool verbose)
{
	if (!access("/sys/kernel/tracing/events", F_OK) ||
	    !access("/sys/kernel/debug/tracing/events", F_OK))
		return 0;
	if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL)) {
		say("cannot mount tracefs on /sys/kernel/tracing: %s", strerror(errno));
		return -1;
	}
	if (verbose)
		say("mounted tracefs on /sys/kernel/tracing");
	return 0;
}

int env_check(const struct tracer_opts *o)
{
	if (!env_has_caps()) {
		say("needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs; try sudo");
		return -1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK)) {
		say("kernel BTF not found (/sys/kernel/btf/vmlinux): %s; needs a kernel built with "
		    "CONFIG_DEBUG_INFO_BTF=y",
		    strerror(errno));
		return -1;
	}
	return env_tracefs(o->verbose);
}
