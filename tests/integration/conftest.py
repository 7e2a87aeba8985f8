# SPDX-License-Identifier: GPL-2.0-only
"""Shared helpers for the integration tests: run heaptrail on fixtures, parse its JSON Lines,
and cut the event stream into the windows that fixtures mark."""
import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
HEAPTRAIL = os.path.join(BUILD, "heaptrail")
FIXTURES = os.path.join(BUILD, "fixtures")

MARK_BEGIN = 0xFFFFFFFFFFF0B001
MARK_END = 0xFFFFFFFFFFF0B002


def pytest_sessionstart(session):
    # These tests need root and BPF; where they are missing the run fails rather than skips.
    if os.geteuid() != 0:
        raise pytest.UsageError("integration tests need root (BPF, uprobes, tracepoints)")
    if not os.path.exists(HEAPTRAIL):
        raise pytest.UsageError(f"{HEAPTRAIL} is missing: run make first")


def fixture_path(name):
    return os.path.join(FIXTURES, name)


def run_heaptrail(args, timeout=60, **kw):
    """Runs heaptrail to completion; returns the CompletedProcess (text mode). Every leaks
    report in JSON it prints is checked for frames the programs never had."""
    proc = subprocess.run([HEAPTRAIL] + args, capture_output=True, text=True, timeout=timeout,
                          **kw)
    if args and args[0] == "leaks" and "--json" in args:
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                check_frames(json.loads(line))
    return proc


def kernel_fallbacks(cache={}):
    """The fallbacks heaptrail takes on this kernel, as -v lists them: {"bpf_loop": "5.17"}
    for "heaptrail: fallback: no bpf_loop (Linux 5.17): ..."."""
    if "v" not in cache:
        proc = run_heaptrail(["trace", "-v", "-e", "process", "-c", "true"])
        assert proc.returncode == 0, proc.stderr
        cache["v"] = dict((m.group(1).split()[-1], m.group(2)) for m in re.finditer(
            r"^heaptrail: fallback: no (.+?) \(Linux ([0-9.]+)\)", proc.stderr, re.M))
    return cache["v"]


def without_bpf_loop():
    return "bpf_loop" in kernel_fallbacks()


def needs_bpf_loop():
    """For tests of unwinding by call-frame information, which runs in a bpf_loop: skipped
    below 5.17, where stacks are walked by frame pointers only (other tests say what happens
    there)."""
    if without_bpf_loop():
        pytest.skip("needs bpf_loop (Linux 5.17), which unwinding without frame pointers runs "
                    "in: this kernel walks frame pointers only")


# The fixtures whose allocations are made from code in anonymous executable memory.
JIT_FIXTURES = {"jit_leak"}


def check_frames(report):
    """No frame outside the process's code: a frame in no file mapping ([anon]) comes only
    from JIT code, and no address is one that no code has (0, the first page)."""
    for p in report.get("processes", []):
        for s in p.get("stacks", []):
            for f in s["frames"]:
                assert int(f["addr"], 16) >= 0x1000, (p["comm"], s)
                assert f["module"] != "[anon]" or p["comm"] in JIT_FIXTURES, (p["comm"], s)


def trace_json(args, timeout=60):
    """heaptrail trace --json ARGS: returns (events, stderr), asserting a clean exit."""
    proc = run_heaptrail(["trace", "--json"] + args, timeout=timeout)
    assert proc.returncode == 0, f"heaptrail failed ({proc.returncode}): {proc.stderr}"
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return events, proc.stderr


def read_truth(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def is_marker(ev, which):
    return ev.get("event") == "malloc" and ev.get("size") == which


def is_hook_event(ev):
    """An event of a kernel-function hook (do_mmap, ...): another view of a syscall the
    fixture made, or a mapping no syscall made. Where the kernel lets hooks attach they come
    besides the syscall events; test_hooks.py checks them."""
    return "via" in ev


def windows(events, hooks=False):
    """{(pid, tid): [events between that thread's markers]} for every marked window, without
    kernel-function hook events unless hooks."""
    out, open_ = {}, set()
    for ev in events:
        if not hooks and is_hook_event(ev):
            continue
        key = (ev["pid"], ev["tid"])
        if is_marker(ev, MARK_BEGIN):
            assert key not in open_, f"nested window on {key}"
            open_.add(key)
            out.setdefault(key, [])
        elif is_marker(ev, MARK_END):
            assert key in open_, f"window end without begin on {key}"
            open_.discard(key)
        elif key in open_:
            out[key].append(ev)
    assert not open_, f"windows never closed: {open_}"
    return out


def truth_windows(truth):
    out, open_ = {}, set()
    for t in truth:
        key = (t["pid"], t["tid"])
        if t["event"] == "window_begin":
            open_.add(key)
            out.setdefault(key, [])
        elif t["event"] == "window_end":
            open_.discard(key)
        elif key in open_:
            out[key].append(t)
    return out


def addr(v):
    """An address as the fixture printed it (%p) or heaptrail did ("0x..."), as an int."""
    if v is None or v == "(nil)":
        return 0
    if isinstance(v, int):
        return v
    return int(v, 16)
