# SPDX-License-Identifier: GPL-2.0-only
"""Forking targets: every child seen from its first instruction under trace, leaks and record,
with -c and -p; a heaptrail killed at any moment leaves no process stopped and no uprobe
behind; SIGTERM ends a run with its report within a second."""
import json
import os
import random
import re
import signal
import subprocess
import time
from contextlib import contextmanager

import pytest

from conftest import HEAPTRAIL, fixture_path, read_truth, run_heaptrail
from test_targets import attach_to_waiting, start_heaptrail, wait_for

FORKER = fixture_path("forker")
CHILD_MALLOCS, CHILD_FREES, CHILD_LEAK = 50, 47, 300


def guards():
    return [int(d) for d in os.listdir("/proc") if d.isdigit() and
            open_quiet(f"/proc/{d}/comm").strip() == "heaptrail-guard"]


def open_quiet(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


@pytest.fixture(autouse=True)
def guard_done():
    """A heaptrail killed or signalled leaves its guard to detach the programs: the next test
    starts once that is done (seconds on kernels before 6.6), so that they do not meet."""
    yield
    deadline = time.monotonic() + 60
    while guards() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not guards(), "a guard did not finish within 60 s"


def child_pids(truth):
    return [t["pid"] for t in truth if t["event"] == "child"]


def forker_argv(count, truth_file, wait=False):
    return [FORKER, str(count), "5", str(truth_file)] + (["wait"] if wait else [])


def shell_argv(count, truth_file, wait=False):
    """A shell script that runs COUNT short-lived programs one after another (each forks one
    child)."""
    script = f"{truth_file}.sh"
    with open(script, "w") as f:
        if wait:
            f.write("echo ready $$; read x\n")
        f.write(f"i=0; while [ $i -lt {count} ]; do {FORKER} 1 0 {truth_file}.$i || exit 9; "
                f"i=$((i+1)); done\n")
    return ["/bin/sh", script]


def shell_truth(truth_file, count):
    return [t for i in range(count) for t in read_truth(f"{truth_file}.{i}")]


def run_traced(cmd, argv, mode, tmp_path, out_args):
    """Runs argv under heaptrail CMD with -c or -p; returns heaptrail's stdout path."""
    if mode == "-c":
        proc = run_heaptrail([cmd] + out_args + ["-c", " ".join(argv)], timeout=120)
        assert proc.returncode == 0, proc.stderr
        out = tmp_path / "stdout"
        out.write_text(proc.stdout)
        return out
    banner = "recording" if cmd == "record" else "heaptrail: tracing"
    return attach_to_waiting(argv, [cmd] + out_args, banner, tmp_path)[1]


@contextmanager
def traced_forker(count, args, tmp_path, before_go=None, period_ms=5):
    """A forker of COUNT children, 5 ms apart, under heaptrail ARGS -p, let go once heaptrail
    traces (and before_go(heaptrail) returned); yields (forker, heaptrail, heaptrail's stdout
    path, its stderr path)."""
    target = subprocess.Popen([FORKER, str(count), str(period_ms), "-", "wait"],
                              stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().startswith("ready")
        ht, out, err = start_heaptrail(args + ["-p", str(target.pid)], tmp_path)
        wait_for(err, "heaptrail: tracing")
        if before_go:
            before_go(ht)
        target.stdin.write("go\n")
        target.stdin.flush()
        yield target, ht, out, err
    finally:
        target.kill()


def check_trace_counts(out, children):
    events = [json.loads(l) for l in open(out) if l.strip()]
    for pid in children:
        mine = [e for e in events if e.get("pid") == pid]
        mallocs = [e for e in mine if e["event"] == "malloc" and e.get("size") == 100]
        frees = [e for e in mine if e["event"] == "free"]
        # the child frees nothing it inherited: its frees are its own 47
        assert (len(mallocs), len(frees)) == (CHILD_MALLOCS, CHILD_FREES), (pid, mine[:5])


def check_leak_report(report, children):
    procs = {p["pid"]: p for p in report["processes"]}
    for pid in children:
        proc = procs[pid]
        mine = [s for s in proc["stacks"]
                if any((f.get("sym") or "").startswith("forker_child") for f in s["frames"])]
        assert [(s["bytes"], s["allocs"]) for s in mine] == [(CHILD_LEAK, 3)], (pid, proc)
        assert proc["unmatched_frees"] == 0
    assert all(v == 0 for v in report["lost"].values()), report["lost"]


WORKLOADS = {"forker": (forker_argv, read_truth), "shell": (shell_argv, shell_truth)}


@pytest.mark.parametrize("mode", ["-c", "-p"])
@pytest.mark.parametrize("workload", ["forker", "shell"])
@pytest.mark.parametrize("cmd", ["trace", "leaks", "record"])
def test_every_child_seen_from_its_first_instruction(cmd, workload, mode, tmp_path):
    count = 30 if workload == "forker" else 8
    truth_file = tmp_path / "t.jsonl"
    make_argv, truth_of = WORKLOADS[workload]
    argv = make_argv(count, truth_file, wait=mode == "-p")
    if cmd == "trace":
        out = run_traced("trace", argv, mode, tmp_path, ["--json", "-e", "alloc"])
    elif cmd == "leaks":
        out = run_traced("leaks", argv, mode, tmp_path, ["--json", "--top", "100"])
    else:
        rec = tmp_path / "rec.ht"
        run_traced("record", argv, mode, tmp_path, ["-o", str(rec)])
        proc = run_heaptrail(["leaks", "--json", "--top", "100", "-i", str(rec)])
        assert proc.returncode == 0, proc.stderr
        out = tmp_path / "report"
        out.write_text(proc.stdout)
    truth = truth_of(truth_file) if workload == "forker" else truth_of(truth_file, count)
    children = child_pids(truth)
    assert len(children) == count
    if cmd == "trace":
        check_trace_counts(out, children)
    else:
        check_leak_report(json.loads(open(out).read().splitlines()[-1]), children)


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def descendants(root):
    """root and every process below it, from /proc."""
    parents = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    found, todo = {root}, [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parents.items() if pp == p and c not in found]
        found.update(kids)
        todo.extend(kids)
    return found


def uprobe_messages():
    out = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if "uprobe" in l]


def stopped_after(root, seconds):
    """The processes of root's tree still in state T once seconds have passed (polling)."""
    deadline = time.monotonic() + seconds
    while True:
        stopped = [p for p in descendants(root) if proc_state(p) == "T"]
        if not stopped or time.monotonic() >= deadline:
            return stopped
        time.sleep(0.02)


# From 10 ms after start (before the programs are even loaded) to well into the run.
KILL_MOMENTS = [0.01, 0.05, 0.12, 0.25, 0.4, 0.6, 0.8, 1.0, 1.3, 1.7]


@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_sigkill_leaves_nothing_stopped(moment, tmp_path):
    before = uprobe_messages()
    target = subprocess.Popen([FORKER, "400", "5", "-", "wait"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert target.stdout.readline().startswith("ready")
        target.stdin.write("go\n")
        target.stdin.flush()
        ht = subprocess.Popen([HEAPTRAIL, "leaks", "-p", str(target.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(moment)
        ht.kill()
        ht.wait(timeout=10)
        assert stopped_after(target.pid, 1.0) == []
        # untraced, it exits 0 once every child did
        assert target.wait(timeout=60) == 0
    finally:
        target.kill()
    assert uprobe_messages() == before


@pytest.mark.parametrize("moment", [0.05, 0.3, 0.9])
def test_sigkill_with_command_leaves_nothing_stopped(moment, tmp_path):
    """-c: the command is heaptrail's child; killed, it goes on alone and ends as untraced."""
    truth_file = tmp_path / "t.jsonl"
    before = uprobe_messages()
    ht = subprocess.Popen([HEAPTRAIL, "leaks", "-c", f"{FORKER} 300 5 {truth_file}"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(moment)
    tree = descendants(ht.pid) - {ht.pid}
    ht.kill()
    ht.wait(timeout=10)
    for pid in tree:
        assert stopped_after(pid, 1.0) == []
    deadline = time.monotonic() + 60
    while any(proc_state(p) not in (None, "Z") for p in tree) and time.monotonic() < deadline:
        time.sleep(0.05)
    truth = read_truth(truth_file) if os.path.exists(truth_file) else []
    done = [t for t in truth if t["event"] == "done"]
    # either the command had not begun (heaptrail died before letting it exec), or it ran
    # to its end with every child exiting 0
    assert not truth or (done and done[0]["failed"] == 0), truth[-3:]
    assert uprobe_messages() == before


@pytest.mark.parametrize("seed", range(5))
def test_sigterm_reports_within_a_second(seed, tmp_path):
    moment = random.Random(seed).uniform(0.5, 2.5)
    with traced_forker(1000, ["leaks", "--json"], tmp_path) as (target, ht, out, err):
        time.sleep(moment)
        sigterm_reports(ht, out, err)
        assert stopped_after(target.pid, 1.0) == []
        assert target.wait(timeout=60) == 0


def sigterm_reports(ht, out, err):
    """Ends heaptrail (leaks --json) with SIGTERM: it exits 0 with its report, in time; returns
    what it printed on stderr."""
    ht.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    ht.wait(timeout=30)
    took = time.monotonic() - sent
    log = open(err).read()
    assert ht.returncode == 0, log
    report = json.loads(open(out).read().splitlines()[-1])
    assert report["processes"] and "lost" in report
    # A second on a real CPU (13-23 ms measured here); the qemu guests emulate the CPU (TCG)
    # and took 1.25-2.26 s on Linux 6.1 in this test, with or without unwind tables, and
    # 0.2-1.1 s on 5.10 (alone; the CI runs two guests at once).
    limit = 3.0 if os.environ.get("HEAPTRAIL_VMTEST_KERNEL") else 1.0
    assert took < limit, f"exit {took:.2f} s after SIGTERM"
    return log


def test_sigterm_while_the_probes_are_being_shared(tmp_path):
    """Deterministic: the guard, which makes the shared probes at the first fork, is frozen, so
    that request never ends; a SIGTERM then ends the run with its report all the same (before:
    heaptrail waited for the guard's answer, which took 1.2 s in the 5.10 guest where each of
    84 probe programs is loaded, and the stop came 3.5-4.4 s late under CI). The children held
    for the share are continued, and the guard, thawed, detaches everything."""
    before = uprobe_messages()
    frozen = []

    def freeze_guard(ht):
        frozen.extend(g for g in guards() if ppid_of(g) == ht.pid)
        assert frozen, "heaptrail has no guard"
        os.kill(frozen[0], signal.SIGSTOP)

    try:
        with traced_forker(1000, ["leaks", "--json", "-v"], tmp_path, freeze_guard) as (
                target, ht, out, err):
            deadline = time.monotonic() + 10
            held = []
            while not held and time.monotonic() < deadline:
                held = [p for p in descendants(target.pid) - {target.pid}
                        if proc_state(p) == "T"]
                time.sleep(0.01)
            assert held, "no child was held for the shared probes"
            log = sigterm_reports(ht, out, err)
            assert "a stop came while the probes were being shared" in log, log
            # heaptrail continued the held children itself: the guard is still frozen
            assert stopped_after(target.pid, 1.0) == []
            assert target.wait(timeout=60) == 0
    finally:
        for g in frozen:
            os.kill(g, signal.SIGCONT)
    deadline = time.monotonic() + 60
    while frozen[0] in guards() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert uprobe_messages() == before


def ppid_of(pid):
    return int(open_quiet(f"/proc/{pid}/stat").rsplit(")", 1)[1].split()[1])


def test_second_signal_exits_at_once(tmp_path):
    """A second SIGINT does not wait for the report; the target goes on untouched."""
    with traced_forker(1000, ["leaks"], tmp_path) as (target, ht, out, err):
        time.sleep(1)
        ht.send_signal(signal.SIGINT)
        ht.send_signal(signal.SIGINT)
        ht.wait(timeout=10)
        assert ht.returncode in (0, 128 + signal.SIGINT), open(err).read()
        assert stopped_after(target.pid, 1.0) == []
        assert target.wait(timeout=60) == 0


def test_memory_does_not_grow_per_child(tmp_path):
    """Symbol tables are per file, shared by the processes that map it: 100 short-lived
    children cost heaptrail no more than a few of them (before: 13-17 MB each)."""
    proc = run_heaptrail(["leaks", "-c", f"{FORKER} 100 5"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    peak_kib = int(re.search(r"peak RSS (\d+) KiB", proc.stderr).group(1))
    assert peak_kib < 100 * 1024, proc.stderr


def test_children_are_not_each_stopped(tmp_path):
    """-p: a child has its parent's mappings, read at attach, and BPF gives it its parent's
    unwind tables at the fork: only the children forked while the first is handled are stopped
    (until the probes are shared), not each one (before: 473 holds for 473 children). That
    window is a few ms here and took 250 ms in the 6.1 guest: children 100 ms apart, of which
    at most half may be stopped, whatever the CPU. (Under -c a forker that allocates nothing
    after its exec still has each child stopped once: its own mappings are never read.)"""
    with traced_forker(30, ["leaks", "-v"], tmp_path, period_ms=100) as (target, ht, out,
                                                                         err_path):
        assert target.wait(timeout=120) == 0
        ht.wait(timeout=60)
        err = open(err_path).read()
    holds = int(re.search(r"targets were stopped (\d+) times", err).group(1))
    assert 1 <= holds <= 15, err


def test_a_later_first_fork_stops_its_children_briefly(tmp_path):
    """The shared probes come at a target's first fork, and the children it forks meanwhile
    are stopped until they are in. Without attach cookies (before Linux 5.15) their ~40
    programs are loaded beside the run from the start, not at that fork: in the 5.10 guest a
    first fork 3 s after the attach stopped 8 children, 57 ms at most (before: ~170 children,
    1.2 s each, as when it comes at once). Elsewhere the probes are made in milliseconds."""
    late = 5.0 if os.environ.get("HEAPTRAIL_VMTEST_KERNEL") else 0.5
    with traced_forker(50, ["leaks", "-v"], tmp_path,
                       before_go=lambda ht: time.sleep(late)) as (target, ht, out, err_path):
        assert target.wait(timeout=120) == 0
        ht.wait(timeout=60)
        err = open(err_path).read()
    m = re.search(r"targets were stopped (\d+) times .* ([\d.]+) us at most", err)
    assert m, err
    assert int(m.group(1)) <= 25 and float(m.group(2)) < 500e3, err


def test_guard_continues_what_a_killed_heaptrail_held(tmp_path):
    """Deterministic: heaptrail is frozen before the first fork, so the children stop
    themselves on their return from fork until the probes are shared, which never comes;
    heaptrail is killed and the guard continues them."""
    freeze = lambda ht: ht.send_signal(signal.SIGSTOP)
    with traced_forker(400, ["leaks"], tmp_path, freeze) as (target, ht, out, err):
        deadline = time.monotonic() + 10
        held = []
        while not held and time.monotonic() < deadline:
            held = [p for p in descendants(target.pid) if proc_state(p) == "T"]
            time.sleep(0.01)
        assert held, "no child stopped itself while heaptrail was frozen"
        ht.kill()
        ht.wait(timeout=10)
        assert stopped_after(target.pid, 1.0) == []
        assert target.wait(timeout=60) == 0


def bpf_prog_names():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"]: p.get("name", "") for p in json.loads(out)}


def uprobe_fds(pid, names):
    """pid's descriptors that keep allocator uprobes: links running one of our alloc_*
    programs, and perf events (a uprobe carrying a program on kernels without perf links)."""
    found = []
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            info = open_quiet(f"/proc/{pid}/fdinfo/{fd}")
        except OSError:
            continue
        if target == "anon_inode:[perf_event]":
            found.append(fd)
            continue
        m = re.search(r"^prog_id:\s*(\d+)", info, re.M)
        if "link_id:" in info and m:
            prog = int(m.group(1))
            if prog not in names:
                names.update(bpf_prog_names())
            if names.get(prog, "").startswith("alloc_"):
                found.append(fd)
    return found


@pytest.mark.parametrize("mode", ["-c", "-p"])
def test_heaptrail_never_owns_a_uprobe(mode, tmp_path):
    """The guard makes every allocator uprobe and is its only owner, so that no moment exists
    at which a SIGKILL of heaptrail leaves it the last owner (and the kernel's unregister fails
    with the signal pending: a leaked uprobe). Sampled from the start through the first fork
    (when the shared probes come) to the end."""
    names = {}
    target = None
    if mode == "-c":
        args = ["-c", f"{FORKER} 100 5"]
    else:
        target = subprocess.Popen([FORKER, "100", "5", "-", "wait"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        assert target.stdout.readline().startswith("ready")
        args = ["-p", str(target.pid)]
    ht = subprocess.Popen([HEAPTRAIL, "leaks"] + args, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    try:
        samples, guard_held = 0, 0
        started = False
        while ht.poll() is None:
            owned = uprobe_fds(ht.pid, names)
            assert owned == [], f"heaptrail holds uprobe descriptors {owned}"
            samples += 1
            for g in guards():
                guard_held = max(guard_held, len(uprobe_fds(g, names)))
            if target and not started and guard_held:
                target.stdin.write("go\n")
                target.stdin.flush()
                started = True
            time.sleep(0.001)
        assert ht.returncode == 0, ht.stderr.read()
        assert samples > 20
        # the control: the guard was seen holding them
        assert guard_held > 0
    finally:
        if ht.poll() is None:
            ht.kill()
        if target:
            target.kill()
            target.wait()
