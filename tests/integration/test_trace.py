# SPDX-License-Identifier: GPL-2.0-only
"""heaptrail trace against fixtures that know exactly what they did."""
import errno
import os
import signal
import subprocess
import time

import pytest

from conftest import (HEAPTRAIL, addr, fixture_path, is_hook_event, read_truth, run_heaptrail,
                      trace_json,
                      truth_windows, windows)

ADDR_FIELDS = {"ptr", "addr", "old_addr", "new_addr", "shmaddr"}
ALIGNED = {"aligned_alloc", "memalign"}


def expect_matches(truth, ev):
    """One heaptrail event against one truth line; returns a reason, or None when equal."""
    if truth["event"] == "sys":
        if ev.get("syscall") != truth["syscall"]:
            return f"syscall {ev.get('syscall')} != {truth['syscall']}"
    elif truth["event"] in ALIGNED:
        # glibc 2.36 has aligned_alloc and memalign at one address: one probe, named once.
        names = {ev["event"]} | set(ev.get("aliases", []))
        if truth["event"] not in names:
            return f"event {ev['event']} (aliases {ev.get('aliases')}) != {truth['event']}"
    elif ev["event"] != truth["event"]:
        return f"event {ev['event']} != {truth['event']}"
    for key, want in truth.items():
        if key in ("pid", "tid", "event", "syscall"):
            continue
        if key == "ptr_below":
            # a block whose start the fixture knows only to lie shortly below this address
            if not 0 < addr(want) - addr(ev.get("ptr")) <= 512:
                return f"ptr {ev.get('ptr')} not just below {want}"
            continue
        if key == "errno":
            if ev.get("errno") != errno.errorcode[want]:
                return f"errno {ev.get('errno')} != {errno.errorcode[want]}"
            continue
        if key not in ev:
            return f"missing {key}"
        got = ev[key]
        if key in ADDR_FIELDS or (key == "ret" and isinstance(got, str)):
            got, want = addr(got), addr(want)
        if got != want:
            return f"{key}: {got!r} != {want!r}"
    return None


def compare_window(key, want, got):
    strict = [e for e in got if not e.get("in_alloc")]
    lines = [f"window {key}: {len(want)} expected, {len(strict)} traced"]
    ok = len(want) == len(strict)
    for i in range(max(len(want), len(strict))):
        t = want[i] if i < len(want) else None
        e = strict[i] if i < len(strict) else None
        why = "missing" if e is None else "unexpected" if t is None else expect_matches(t, e)
        if why:
            ok = False
        lines.append(f"  {'OK ' if not why else 'BAD'} {t} | {e} {why or ''}")
    assert ok, "\n".join(lines)


# Probe placement (the default) and --probe-at-entry must see exactly the same calls.
PLACEMENT = {"placed": [], "at-entry": ["--probe-at-entry"]}


@pytest.fixture(scope="module", params=list(PLACEMENT))
def alloc_seq(tmp_path_factory, request):
    truth_file = tmp_path_factory.mktemp("alloc_seq") / "truth.jsonl"
    events, stderr = trace_json(PLACEMENT[request.param] +
                                ["-c", f"{fixture_path('alloc_seq')} {truth_file}"])
    return events, read_truth(truth_file), stderr


def test_every_window_matches_truth(alloc_seq):
    events, truth, _ = alloc_seq
    got, want = windows(events), truth_windows(truth)
    # main thread, second thread, forked child
    assert len(want) == 3, want.keys()
    assert set(got) == set(want), f"traced windows {set(got)} != fixture windows {set(want)}"
    for key in want:
        compare_window(key, want[key], got[key])


def nested_events(window, index, after):
    """The in_alloc events that belong to the allocator call at window[index]: those just
    before its record (it is emitted at return), or just after it for a free (emitted at
    entry)."""
    step = 1 if after else -1
    out, i = [], index + step
    while 0 <= i < len(window) and window[i].get("in_alloc"):
        out.append(window[i])
        i += step
    return out


def covers(ev, start_key, address):
    return "errno" not in ev and addr(ev[start_key]) <= address < addr(ev[start_key]) + ev["len"]


def test_kernel_events_inside_allocator_are_flagged(alloc_seq):
    events, truth, _ = alloc_seq
    main = next(k for k in truth_windows(truth) if k[0] == k[1] and k[0] == truth[0]["pid"])
    big = addr(next(t for t in truth if t["event"] == "malloc" and t["size"] == 1 << 20)["addr"])
    window = windows(events)[main]
    at_malloc = next(i for i, e in enumerate(window)
                     if e["event"] == "malloc" and e.get("size") == 1 << 20)
    at_free = next(i for i, e in enumerate(window)
                   if e["event"] == "free" and addr(e["ptr"]) == big)
    # malloc's own mmap of the block, flagged, right before the malloc record
    inner = nested_events(window, at_malloc, after=False)
    assert [e for e in inner if e["event"] == "mmap" and covers(e, "ret", big)], inner
    # free's munmap of it, flagged, right after the free record
    inner = nested_events(window, at_free, after=True)
    assert [e for e in inner if e["event"] == "munmap" and covers(e, "addr", big)], inner
    # Nothing but kernel events is ever flagged: an allocator call nested in another (the
    # realloc inside reallocarray) is part of the outer call, not an event of its own.
    assert all(e["event"] in ("mmap", "munmap", "brk", "mprotect", "madvise")
               for e in window if e.get("in_alloc"))


def test_process_lifecycle(alloc_seq):
    events, truth, _ = alloc_seq
    parent = truth[0]["pid"]
    child = next(t["pid"] for t in truth if t["pid"] != parent)
    # kernel-function hooks, where they attach, also see the mappings exec makes before it
    events = [e for e in events if not is_hook_event(e)]
    assert events[0]["event"] == "exec" and events[0]["pid"] == parent
    assert events[0]["filename"].endswith("alloc_seq")
    forks = [e for e in events if e["event"] == "fork"]
    assert [(e["pid"], e["child_pid"]) for e in forks] == [(parent, child)]
    exits = {e["pid"]: e for e in events if e["event"] == "exit"}
    assert set(exits) == {parent, child}
    assert exits[parent]["exit_code"] == 0 and exits[child]["exit_code"] == 0
    # The child's events come after the fork, the parent's exit after the child's.
    order = [e["event"] for e in events if e["event"] in ("fork", "exit")]
    assert order == ["fork", "exit", "exit"]
    assert all(e["comm"] == "alloc_seq" for e in events if e["pid"] in (parent, child))


def test_no_losses(alloc_seq):
    events, _, stderr = alloc_seq
    assert not [e for e in events if e["event"] == "lost"]
    assert "lost events: none" in stderr


@pytest.mark.parametrize("placement", list(PLACEMENT))
def test_cxx_operators(tmp_path, placement):
    """Every operator new/delete variant, failing nothrow new, and a new that throws: the
    exception passes (the program is not terminated) and the call is reported as not
    returned."""
    truth_file = tmp_path / "truth.jsonl"
    events, _ = trace_json(PLACEMENT[placement] + ["-e", "alloc,exit", "-c",
                            f"{fixture_path('cxx_alloc')} {truth_file}"])
    got, want = windows(events), truth_windows(read_truth(truth_file))
    assert len(want) == 1 and set(got) == set(want)
    for key in want:
        compare_window(key, want[key], got[key])
    exits = [e for e in events if e["event"] == "exit"]
    assert [e.get("exit_code") for e in exits] == [0]


def test_event_selection(tmp_path):
    truth_file = tmp_path / "truth.jsonl"
    events, _ = trace_json(["-e", "free,munmap", "-c",
                            f"{fixture_path('alloc_seq')} {truth_file}"])
    kinds = {e["event"] for e in events}
    assert kinds == {"free", "munmap"}, kinds
    truth = read_truth(truth_file)
    want_frees = [addr(t["ptr"]) for t in truth if t["event"] == "free"]
    got_frees = [addr(e["ptr"]) for e in events if e["event"] == "free"]
    # every free the fixture made is there, in order (libc's own frees interleave)
    it = iter(got_frees)
    assert all(any(p == q for q in it) for p in want_frees)


def test_text_output(tmp_path):
    truth_file = tmp_path / "truth.jsonl"
    proc = run_heaptrail(["trace", "-c", f"{fixture_path('alloc_seq')} {truth_file}"])
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["TIME(s)", "PID", "TID", "COMM", "EVENT"]
    assert any("calloc(nmemb=10, size=20) = 0x" in l for l in lines)
    assert any("posix_memalign(memptr=0x" in l and "= EINVAL" in l for l in lines)
    assert any("mmap(addr=0x0, len=4096, prot=READ, flags=PRIVATE, fd=-1, off=0) = -1 EBADF" in l
               for l in lines)
    assert any("[in allocator]" in l for l in lines)
