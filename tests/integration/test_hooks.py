# SPDX-License-Identifier: GPL-2.0-only
"""Kernel-function hooks (do_mmap, the munmap path, ...) against the syscall tracepoints on
the same fixture. Which path a kernel offers is known per kernel: `make vmtest` says which
kernel it booted (6.12: fexit; 6.1: kprobes, since it refuses fentry on do_mmap's seven
arguments; 5.10: kprobes, since its fexit programs cannot read arguments: bpf_get_func_arg is
5.17's). On this development VM fentry is refused and there are no kprobes: then -v must
say so and no hook event may appear."""
import os
import re

from conftest import addr, fixture_path, is_hook_event, run_heaptrail, trace_json

KERNEL = os.environ.get("HEAPTRAIL_VMTEST_KERNEL")
EXPECTED = {"5.10": "kprobes", "6.1": "kprobes", "6.12": "fexit"}.get(KERNEL)
PAGE = 4096


def hook_mode():
    proc = run_heaptrail(["trace", "-v", "-e", "mmap", "-c", "true"])
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"kernel-function hooks: (fexit|kprobes|none)(.*)", proc.stderr)
    assert m, proc.stderr
    return m.group(1), m.group(2)


def test_the_hook_path_is_reported():
    mode, why = hook_mode()
    if EXPECTED:
        assert mode == EXPECTED, why
    if KERNEL == "5.10":
        assert "no bpf_get_func_arg (Linux 5.17)" in why
    if mode == "kprobes":
        # kprobes only where fexit was refused, and -v says why
        assert "refused" in why
    if mode == "none":
        assert "refused" in why or "no hookable function" in why
        assert "kprobes not available" in why


def page_up(n):
    return (n + PAGE - 1) // PAGE * PAGE


def test_hook_events_agree_with_syscalls(tmp_path):
    mode, _ = hook_mode()
    maps = tmp_path / "maps.txt"
    events, _ = trace_json(["-e", "vm,process", "-c",
                            f"{fixture_path('vma_ops')} 3 400 {maps}"])
    pid = next(e["pid"] for e in events if e["event"] == "exec")
    hooks = [e for e in events if is_hook_event(e) and e["pid"] == pid]
    calls = [e for e in events if not is_hook_event(e) and e["pid"] == pid and "errno" not in e]
    if mode == "none":
        assert hooks == []
        return
    # every successful mmap and munmap syscall went through its hook, inside that syscall
    hook_maps = {(addr(e["ret"]), page_up(e["len"])) for e in hooks
                 if e["via"] == "do_mmap" and e.get("in_syscall")}
    sys_maps = {(addr(e["ret"]), page_up(e["len"])) for e in calls if e["event"] == "mmap"}
    assert sys_maps and sys_maps == hook_maps
    hook_unmaps = [(addr(e["addr"]), page_up(e["len"])) for e in hooks
                   if e["via"] in ("do_munmap", "do_vmi_munmap", "do_mas_munmap") and
                   e.get("in_syscall") and e["ret"] >= 0]
    sys_unmaps = [(addr(e["addr"]), page_up(e["len"])) for e in calls
                  if e["event"] == "munmap"]
    assert sys_unmaps and set(sys_unmaps) <= set(hook_unmaps)
    # and they see what no syscall makes: the mappings of the exec itself, before its record
    exec_at = next(i for i, e in enumerate(events) if e["event"] == "exec" and e["pid"] == pid)
    at_exec = [e for e in events[:exec_at]
               if is_hook_event(e) and e["pid"] == pid and e["via"] == "do_mmap"]
    assert len(at_exec) >= 2 and not any(e.get("in_syscall") for e in at_exec), at_exec
