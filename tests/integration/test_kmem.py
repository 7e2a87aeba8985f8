# SPDX-License-Identifier: GPL-2.0-only
"""Kernel allocators (-k) against a fixture that knows its kernel objects: each AF_UNIX socket
of kmem_work takes exactly one sock_inode_cache object, a cache nothing merges with."""
import json
import os
import re
import signal
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import fixture_path, read_truth, run_heaptrail, trace_json
from test_html_data import page_data
from test_targets import start_heaptrail, wait_for

CACHE = "sock_inode_cache"


def kmem_work(tmp_path, n, keep, hold_ms, name="truth"):
    truth = str(tmp_path / name)
    return truth, f"{fixture_path('kmem_work')} {truth} {n} {keep} {hold_ms}"


def report(args, command="leaks"):
    proc = run_heaptrail([command, "--json"] + args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def cache(rep, name=CACHE):
    cs = [c for c in rep["kernel"]["caches"] if c["cache"] == name]
    assert len(cs) == 1, [c["cache"] for c in rep["kernel"]["caches"]]
    return cs[0]


def run_until_holding(args, truth):
    """Runs heaptrail until the fixture says it holds its sockets, then stops it (SIGINT): no
    timing guess, however slow the machine (tests also run under qemu's emulation)."""
    # files, not pipes: the -c command inherits them and lives on after heaptrail
    proc, out_path, err_path = start_heaptrail(args, Path(truth).parent / "heaptrail")
    try:
        wait_for(truth, "holding", timeout=120)
        # no sleep: the closed sockets' inodes are freed by RCU callbacks, which heaptrail
        # waits for when it stops
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    finally:
        proc.kill()
        kill_truth_pid(truth)
    out, err = open(out_path).read(), open(err_path).read()
    assert proc.returncode == 0, err
    return out, err


def kill_truth_pid(truth):
    for t in read_truth(truth):
        try:
            os.kill(t["pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        return


def pprof_kernel_samples(path):
    """go tool pprof -raw of a profile: its kernel samples as (inuse objects, inuse bytes,
    {label: value}, [function names, innermost first])."""
    from test_leaks import pprof_raw_lines
    lines = pprof_raw_lines(path)
    start, locs_at = lines.index("Samples:") + 2, lines.index("Locations")
    names = {}
    for line in lines[locs_at + 1:]:
        m = re.match(r"^\s*(\d+): 0x[0-9a-f]+ M=\d+ (\S+) ", line)
        if m:
            names[int(m[1])] = m[2]
    samples = []
    for line in lines[start:locs_at]:
        m = re.match(r"^\s*([\d\s]+):([\d\s]*)$", line)
        if m:
            values = [int(v) for v in m[1].split()]
            samples.append([values[2], values[3], {}, [names[int(i)] for i in m[2].split()]])
        elif samples and ":[" in line:
            samples[-1][2].update(re.findall(r"(\w+):\[([^\]]*)\]", line))
    return [s for s in samples if "allocator" in s[2]]


def test_pprof_has_the_kernel_allocations(tmp_path):
    """leaks -k --pprof: the outstanding kernel allocations are samples of their own, labelled
    with allocator and cache, their totals those of the JSON report, the sockets held by the
    fixture in sock_inode_cache, each stack the JSON's frame for frame."""
    truth, cmd = kmem_work(tmp_path, 300, 100, 100000)
    prof = tmp_path / "k.pb.gz"
    out, _ = run_until_holding(["leaks", "--json", "-k", "--top", "100000", "--pprof", str(prof),
                                "-c", cmd], truth)
    rep = json.loads(out.splitlines()[-1])
    kernel = pprof_kernel_samples(prof)
    assert sum(s[0] for s in kernel) == rep["kernel"]["live_allocs"]
    assert sum(s[1] for s in kernel) == rep["kernel"]["live_bytes"]
    assert sum(s[0] for s in kernel if s[2].get("cache") == CACHE) == 200
    assert rep["kernel"]["stacks_total"] == len(rep["kernel"]["stacks"])
    for st in rep["kernel"]["stacks"]:
        frames = [f["sym"].split("+")[0] for f in st["frames"]] if st["frames"] else \
            [st["call_site"]["sym"].split("+")[0]]
        labels = {"allocator": st["allocator"], **({"cache": st["cache"]} if st["cache"] else {})}
        assert [s for s in kernel if s[3] == frames and s[2] == labels and
                s[:2] == [st["allocs"], st["bytes"]]], (st, kernel)


def test_outstanding_sockets_are_reported_with_cache_and_stack(tmp_path):
    # 300 pairs made, 200 closed at once, 100 pairs held when tracing stops
    truth, cmd = kmem_work(tmp_path, 300, 100, 100000)
    out, _ = run_until_holding(["leaks", "--json", "-k", "-c", cmd], truth)
    rep = json.loads(out.splitlines()[-1])
    c = cache(rep)
    assert (c["allocs"], c["frees"], c["live_allocs"], c["missed_frees"]) == (600, 400, 200, 0)
    assert c["live_bytes"] == 200 * (c["bytes_alloc"] // 600)
    stacks = [s for s in rep["kernel"]["stacks"] if s["cache"] == CACHE]
    assert sum(s["allocs"] for s in stacks) == 200
    top = stacks[0]
    assert top["allocator"] == "kmem_cache" and top["interrupt"] is False
    assert top["call_site"]["sym"].startswith("sock_alloc_inode+")
    syms = [f["sym"] for f in top["frames"]]
    assert all(s is not None for s in syms)
    assert any(s.startswith("__sys_socketpair+") for s in syms), syms
    # the tracing machinery's own frames are cut off
    assert not any(s.startswith(("bpf_", "__bpf_trace")) for s in syms), syms
    assert rep["lost"]["kmem_table"] == 0 and rep["lost"]["ringbuf"] == 0
    # allocator totals include the cache's
    kc = [a for a in rep["kernel"]["allocators"] if a["allocator"] == "kmem_cache"][0]
    assert kc["live_allocs"] >= 200 and kc["allocs"] >= 600


def test_counts_balance_when_everything_is_closed(tmp_path):
    truth, cmd = kmem_work(tmp_path, 300, 100, 200)
    rep = report(["-k", "-c", cmd])
    c = cache(rep)
    # inodes are freed by RCU callbacks after the process is gone: the tracer waits for them
    assert (c["allocs"], c["frees"], c["live_allocs"], c["missed_frees"]) == (600, 600, 0, 0)
    assert not [s for s in rep["kernel"]["stacks"] if s["cache"] == CACHE]
    assert [t["event"] for t in read_truth(truth)] == ["opened", "holding", "closed"]


def test_pid_filter_keeps_only_that_process(tmp_path):
    # another process makes the same allocations at the same time; -c traces one of them
    other_truth, other_cmd = kmem_work(tmp_path, 400, 400, 1500, "other")
    other = subprocess.Popen(other_cmd.split())
    try:
        time.sleep(0.1)
        truth, cmd = kmem_work(tmp_path, 150, 50, 300)
        rep = report(["-k", "-c", cmd])
    finally:
        other.kill()
        other.wait()
    c = cache(rep)
    # with the losses: it failed once under extra load (frees 100 of 300), cause not found
    assert (c["allocs"], c["frees"]) == (300, 300), (c, rep["lost"])
    assert [t["event"] for t in read_truth(other_truth)][:2] == ["opened", "holding"]


def test_kernel_histograms(tmp_path):
    _, cmd = kmem_work(tmp_path, 200, 0, 0)
    rep = report(["-k", "-c", cmd], command="hist")
    kh = [h for h in rep["histograms"] if h.get("kernel")]
    by_cache = [h for h in kh if h["name"] == "kmem_size" and h.get("cache") == CACHE]
    assert len(by_cache) == 1 and sum(b["count"] for b in by_cache[0]["buckets"]) == 400
    # every object of a cache asks for the same size: one bucket
    assert len(by_cache[0]["buckets"]) == 1
    alloc_kinds = {h["allocator"] for h in kh if h["name"] == "kmem_size" and "allocator" in h}
    assert {"kmem_cache", "page"} <= alloc_kinds
    order = [h for h in kh if h["name"] == "page_order"][0]
    assert sum(b["count"] for b in order["buckets"]) > 0
    gfp = {b["label"]: b["count"] for b in [h for h in kh if h["name"] == "gfp_flags"][0]["buckets"]}
    assert sum(v for k, v in gfp.items() if k.startswith("GFP_KERNEL")) >= 400, gfp
    waste = {w["cache"]: w for w in rep["kmem_waste"]}
    w = waste[CACHE]
    assert w["allocs"] == 400 and w["bytes_alloc"] >= w["bytes_req"] > 0
    assert w["waste_bytes"] == w["bytes_alloc"] - w["bytes_req"]
    # kmalloc is grouped by size class; its waste is what the class adds to the request
    km = [v for k, v in waste.items() if k.startswith("kmalloc-")]
    assert km and all(v["bytes_alloc"] == v["allocs"] * int(v["cache"].split("-")[-1])
                      for v in km)


def test_trace_shows_kernel_events(tmp_path):
    _, cmd = kmem_work(tmp_path, 100, 0, 0)
    events, _ = trace_json(["-k", "-e", "kernel", "-c", cmd])
    allocs = [e for e in events if e["event"] == "kmem_cache_alloc" and e.get("cache") == CACHE]
    assert len(allocs) == 200
    a = allocs[0]
    assert a["gfp"].startswith("GFP_KERNEL") and a["bytes_alloc"] >= a["bytes_req"] > 0
    assert a["call_site_sym"].startswith("sock_alloc_inode+")
    freed = {e["ptr"] for e in events if e["event"] == "kmem_cache_free"}
    assert {a["ptr"] for a in allocs} <= freed
    assert {e["event"] for e in events} <= {"kmalloc", "kfree", "kmem_cache_alloc",
                                            "kmem_cache_free", "page_alloc", "page_free",
                                            "vmalloc", "vfree", "percpu_alloc", "percpu_free",
                                            "lost"}


def test_record_then_report_from_file(tmp_path):
    truth, cmd = kmem_work(tmp_path, 120, 40, 100000)
    out = str(tmp_path / "k.htr")
    run_until_holding(["record", "-k", "-c", cmd, "-o", out], truth)
    rep = report(["-i", out])
    c = cache(rep)
    assert (c["allocs"], c["frees"], c["live_allocs"]) == (240, 160, 80)
    top = [s for s in rep["kernel"]["stacks"] if s["cache"] == CACHE][0]
    # symbolized from the kallsyms the file carries
    assert any(f["sym"] and f["sym"].startswith("__sys_socketpair+") for f in top["frames"])
    events, _ = trace_json(["-i", out, "-e", "kernel"])
    assert len([e for e in events if e["event"] == "kmem_cache_alloc" and
                e.get("cache") == CACHE]) == 240
    hist = report(["-i", out], command="hist")
    assert [h for h in hist["histograms"] if h.get("cache") == CACHE]


def test_kernel_only_system_wide():
    rep = report(["-k", "-d", "0.5"])
    assert rep["processes"] == []
    assert {a["allocator"] for a in rep["kernel"]["allocators"]} == {
        "kmalloc", "kmem_cache", "page", "vmalloc", "percpu"}


def test_timeline_refuses_k():
    proc = run_heaptrail(["timeline", "-k", "-d", "1"])
    assert proc.returncode == 2 and "timeline does not take -k" in proc.stderr


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))


def pairs_that_fit(want):
    """Socket pairs a process may hold open at once under raise_nofile()."""
    import resource
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return min(want, (min(hard, 20000) - 64) // 2)


def test_no_false_leaks_from_interrupted_frees(tmp_path):
    """Closing up to 8,000 sockets at once: their inodes are freed by RCU callbacks, in
    softirqs that also run on the way out of interrupts landing inside our own free program,
    which the kernel then skips. A second copy of each free program takes those; before it,
    this run reported up to 7,318 of 19,800 inodes as leaked."""
    pairs = pairs_that_fit(4000)
    assert pairs >= 1000, "RLIMIT_NOFILE too low for this test"
    truth, cmd = kmem_work(tmp_path, pairs, 0, 0)
    proc = run_heaptrail(["leaks", "--json", "-k", "-c", cmd], preexec_fn=raise_nofile)
    assert proc.returncode == 0, proc.stderr
    assert [t["event"] for t in read_truth(truth)] == ["opened", "holding", "closed"]
    rep = json.loads(proc.stdout.splitlines()[-1])
    c = cache(rep)
    assert c["allocs"] == 2 * pairs
    # whatever the kernel did not deliver is counted, never silently a leak
    assert c["live_allocs"] <= rep["lost"]["kmem_nested"] + rep["lost"]["kmem_free"], (
        c, rep["lost"])
    assert c["frees"] + c["live_allocs"] == 2 * pairs
    # only an interrupt inside both copies can still lose one (before: dozens to thousands,
    # up to 37%): a few on a quiet machine, 48 and 54 of 8,000 in 2 of about 40 runs here, right
    # after other tests' load (stress-ng's, a full suite's); each counted, as checked above.
    # Apart from those, the kernel now and then runs no free program for a whole RCU batch
    # (about 1 run in 30 here; 926 of 8,000 once in CI): perf's count of the tracepoint sees
    # them, kmem_free, and only that may take the live count past the bound. Both counters
    # are the whole run's, every cache's (kmem_nested was 316 and kmem_free 127,625 in the
    # emulated 6.1 guest): neither bounds this cache alone.
    assert c["live_allocs"] <= c["allocs"] // 100 + rep["lost"]["kmem_free"], (
        c["live_allocs"], rep["lost"])


RCU_BARRIER = "/sys/module/rcutree/parameters/do_rcu_barrier"


@contextmanager
def load_beside():
    """A CPU and interrupt load on every CPU: stress-ng's cpu stressor, its timer stressor
    (timer interrupts at 100 kHz per worker) and a socket stressor (network softirqs and
    inodes freed by RCU callbacks of its own); where the kernel takes them (6.12 and later),
    forced RCU barriers every 50 ms too: with them, batches of frees that no free program runs
    for come several times a run here (6.18), instead of once in about 30 runs."""
    n = str(os.cpu_count())
    load = subprocess.Popen(["stress-ng", "--cpu", n, "--timer", n, "--timer-freq", "100000",
                             "--sock", "1", "--quiet"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    barriers = None
    if os.access(RCU_BARRIER, os.W_OK):
        barriers = subprocess.Popen(
            ["sh", "-c", f"while :; do echo 1 > {RCU_BARRIER}; sleep 0.05; done"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(0.5)
        assert load.poll() is None, "stress-ng did not start"
        yield
    finally:
        for p in (load, barriers):
            if p:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


# Three runs with the default ring buffer, two with one small enough to fill.
LOADED_RUNS = [None, "32768", None, "32768", None]


def test_interrupted_frees_under_load_are_exact_or_counted(tmp_path):
    """The same sockets closed while the machine is loaded, five runs in a row: in each,
    every inode is freed or its free is counted as lost, never a silent false leak (the
    losses are counted for every cache, not per cache, so the bound is loose). (Before:
    2,576 of 8,000 shown live with every counter at 0, with a build running beside; later
    509 and 1,109 of 4,000 in 2 runs of 41, when perf's count began after the programs'.)"""
    pairs = pairs_that_fit(2000)
    results = []
    with load_beside():
        for i, ring in enumerate(LOADED_RUNS):
            truth, cmd = kmem_work(tmp_path, pairs, 0, 0, name=f"truth{i}")
            args = ["leaks", "--json", "-k"] + (["--ringbuf-size", ring] if ring else [])
            proc = run_heaptrail(args + ["-c", cmd], timeout=300, preexec_fn=raise_nofile)
            assert proc.returncode == 0, proc.stderr
            assert [t["event"] for t in read_truth(truth)] == ["opened", "holding", "closed"]
            rep = json.loads(proc.stdout.splitlines()[-1])
            # with the small ring every record of the cache may be lost (it is then absent)
            found = [c for c in rep["kernel"]["caches"] if c["cache"] == CACHE]
            if ring and not found:
                c = {"allocs": 0, "frees": 0, "live_allocs": 0}
            else:
                c = cache(rep)
            results.append((ring, c, rep["lost"]))
    summary = [(ring, c["allocs"], c["live_allocs"], lost) for ring, c, lost in results]
    for ring, c, lost in results:
        # an allocation record lost to a full ring buffer is counted there
        assert 2 * pairs - lost["ringbuf"] <= c["allocs"] <= 2 * pairs, summary
        assert c["frees"] + c["live_allocs"] == c["allocs"], summary
        if ring is not None:
            # the small ring did fill and frees were lost: the check below is not vacuous
            assert lost["kmem_free"] > 0, summary
        # What shows as live is what the kernel did not deliver (a nested run, a free no
        # program ran for: perf's count of the tracepoint beyond the programs' runs) or what
        # we could not send. (Before perf's window held the programs' window: 2-3 runs in 70
        # showed hundreds of inodes live with no loss counted; perf started counting late,
        # and the runs it missed hid the frees that ran no program.)
        assert c["live_allocs"] <= lost["kmem_nested"] + lost["kmem_free"], summary


def test_interrupt_allocations_are_not_the_targets(tmp_path):
    """TCP over loopback: the SYN a connect() sends is handled in a softirq that runs in the
    connecting process's context, and makes the listener's request sock there. With a pid
    filter such allocations are counted as interrupt_skipped, never as the target's."""
    truth = str(tmp_path / "truth")
    rep = report(["-k", "-c", f"{fixture_path('tcp_work')} {truth} 100"])
    assert [t["event"] for t in read_truth(truth)] == ["done"]
    k = rep["kernel"]
    skipped = sum(a["interrupt_skipped"] for a in k["allocators"])
    assert skipped > 0, k["allocators"]
    # caches: the slab caches and kmalloc's size classes
    assert sum(c["interrupt_skipped"] for c in k["caches"]) == sum(
        a["interrupt_skipped"] for a in k["allocators"]
        if a["allocator"] in ("kmem_cache", "kmalloc"))
    assert not any(s["interrupt"] for s in k["stacks"]), k["stacks"]
    for c in k["caches"]:
        if c["cache"] == "request_sock_TCP":
            assert c["allocs"] == 0 and c["live_allocs"] == 0, c
    # the target's own socket allocations are still its own
    tcp = [c for c in k["caches"] if c["cache"] == "TCP"]
    assert tcp and tcp[0]["allocs"] >= 100, [c["cache"] for c in k["caches"]]


def slab_truth():
    """/sys/kernel/slab: each merged cache is a link to the shared one."""
    links = {}
    for name in os.listdir("/sys/kernel/slab"):
        path = os.path.join("/sys/kernel/slab", name)
        if os.path.islink(path):
            links[name] = os.path.basename(os.readlink(path))
    return links


def check_merged(rep, links):
    checked = 0
    for c in rep["kernel"]["caches"]:
        shared = links.get(c["cache"])
        want = sorted(n for n, s in links.items() if shared and s == shared and n != c["cache"])
        assert c["merged_with"] == want, c
        checked += bool(want)
    return checked


def test_merged_caches_are_named(tmp_path):
    """A merged cache reports the name of the one it merged into (TIME_WAIT sockets' bind
    buckets show as eventpoll_epi here): the caches that share it come with it, live and
    from a recording (which carries the table)."""
    links = slab_truth()
    assert links, "no merged caches in /sys/kernel/slab"
    truth = str(tmp_path / "truth")
    cmd = f"{fixture_path('tcp_work')} {truth} 50"
    assert check_merged(report(["-k", "-c", cmd]), links) > 0
    out = str(tmp_path / "k.htr")
    proc = run_heaptrail(["record", "-k", "-c", cmd, "-o", out])
    assert proc.returncode == 0, proc.stderr
    assert check_merged(report(["-i", out]), links) > 0


def test_html_page_has_the_kernel_allocations(tmp_path):
    """leaks -k --html: the kernel's outstanding allocations are one more graph in the page,
    each stack under its allocator and cache, frame for frame and byte for byte the JSON
    report's."""
    truth, cmd = kmem_work(tmp_path, 300, 100, 100000)
    page = tmp_path / "k.html"
    out, _ = run_until_holding(["leaks", "--json", "-k", "--top", "100000", "--html", str(page),
                                "-c", cmd], truth)
    rep = json.loads(out.splitlines()[-1])
    k = page_data(page)["kernel"]
    assert (k["live_bytes"], k["live_allocs"]) == (rep["kernel"]["live_bytes"],
                                                   rep["kernel"]["live_allocs"])
    ours = [([k["frames"][i][0] for i in s[0]], s[1], s[2]) for s in k["stacks"]]
    assert sum(b for _, b, _ in ours) == rep["kernel"]["live_bytes"]
    for st in rep["kernel"]["stacks"]:
        frames = [f["sym"].split("+")[0] for f in st["frames"]] if st["frames"] else \
            [st["call_site"]["sym"].split("+")[0]]
        want = [st["allocator"]] + ([st["cache"]] if st["cache"] else []) + frames[::-1]
        assert (want, st["bytes"], st["allocs"]) in ours, (st, ours)
    assert sum(a for f, _, a in ours if f[:2] == ["kmem_cache", CACHE]) == 200
