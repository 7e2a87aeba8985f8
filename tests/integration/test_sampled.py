# SPDX-License-Identifier: GPL-2.0-only
"""Sampled mode (--sample-bytes): process totals exactly as without sampling, stacks of a
Poisson sample of allocations scaled to estimates within the spread the sampling allows, and
no stack that the program did not leak from."""
import json
import math
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import HEAPTRAIL, fixture_path, run_heaptrail
from test_leaks import pprof_raw, pprof_raw_lines
from test_targets import wait_for

N = 64 * 1024
TOTALS = ("allocs", "alloc_bytes", "frees", "failed_allocs", "live_bytes", "live_allocs")


def leaks_report(args, tmp_path, name, timeout=120):
    truth = tmp_path / f"{name}.truth"
    proc = run_heaptrail(["leaks", "--json", "--top", "100000", *args, "-c",
                          f"{fixture_path('sampled')} {truth}"], timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    report = json.loads([l for l in proc.stdout.splitlines() if l.startswith("{")][-1])
    lines = [json.loads(l) for l in truth.read_text().splitlines()]
    return report, lines


def site_of(stack):
    """The fixture's leaking site a stack comes from, None for another."""
    for f in stack["frames"]:
        if f.get("sym", "").startswith("site_"):
            return f["sym"]
    return None


def shown(stack):
    return tuple(f.get("sym") or f["addr"] for f in stack["frames"])


def spread(sizes):
    """The standard deviation of a site's estimated bytes: each block of s bytes is sampled
    with chance p = 1 - exp(-s/N) and then counts s/p, a variance of s^2 (1 - p) / p."""
    var = 0.0
    for s in sizes:
        p = -math.expm1(-s / N)
        var += s * s * (1 - p) / p
    return math.sqrt(var)


def test_sampled_totals_exact_sites_estimated(tmp_path):
    exact, _ = leaks_report([], tmp_path, "exact")
    sampled, truth = leaks_report(["--sample-bytes", "64K"], tmp_path, "sampled")
    assert exact["sample_bytes"] == 0 and sampled["sample_bytes"] == N
    (pe,) = [p for p in exact["processes"] if p["comm"] == "sampled"]
    (ps,) = [p for p in sampled["processes"] if p["comm"] == "sampled"]
    assert ps["sampled"] and not pe["sampled"]
    # the fixture runs the same every time: so do its totals, sampled or not
    for k in TOTALS:
        assert ps[k] == pe[k], (k, ps[k], pe[k])
    assert sum(v for v in sampled["lost"].values()) == 0, sampled["lost"]

    sites = {l["site"]: l for l in truth if "site" in l}
    sizes = {}
    for l in truth:
        if "block" in l:
            sizes.setdefault(l["block"], []).append(l["size"])
    assert set(sites) == {"site_64k", "site_1m", "site_4m", "site_16m", "site_64m"}
    # exact mode: every site to the byte (what the sampled one is measured against)
    exact_by_site, est_by_site = {}, {}
    for s in pe["stacks"]:
        if site_of(s):
            exact_by_site[site_of(s)] = exact_by_site.get(site_of(s), 0) + s["bytes"]
    for name, l in sites.items():
        assert exact_by_site[name] == l["bytes"], (name, exact_by_site, l)
    # no stack invented: each sampled stack is one the exact run reported, frames and all
    exact_stacks = {shown(s) for s in pe["stacks"]}
    for s in ps["stacks"]:
        assert shown(s) in exact_stacks, s
        if site_of(s):
            est_by_site[site_of(s)] = est_by_site.get(site_of(s), 0) + s["bytes"]
    for name, l in sites.items():
        true = l["bytes"]
        if true >= 4 * N:
            # missed only when no sample point fell in its bytes: exp(-16) at 1 MiB, 1e-7
            assert name in est_by_site, (name, est_by_site)
        if true >= 256 * N:
            sd = spread(sizes[name])
            # The bound: 10% is more than 3 standard deviations of the estimate for these
            # sites (16 MiB of 64-256 KiB blocks: 2.6%; 64 MiB of 4-32 KiB blocks: 3.0%),
            # so a correct sampler fails this in about 3 runs in 1,000.
            assert 0.10 * true >= 3 * sd, (name, sd / true)
            err = abs(est_by_site[name] - true) / true
            assert err <= 0.10, (name, est_by_site[name], true, f"{sd / true:.3f} sd")


def test_sampled_text_says_estimates(tmp_path):
    truth = tmp_path / "t.truth"
    proc = run_heaptrail(["leaks", "--sample-bytes", "64K", "--top", "3", "-c",
                          f"{fixture_path('sampled')} {truth}"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "sampled: one allocation per 65536 bytes on average" in proc.stdout
    assert "  ~" in proc.stdout and "allocation" in proc.stdout


def test_sampled_recording(tmp_path):
    """record --sample-bytes: the recording says it was sampled, and leaks -i reads the same
    exact totals, timeline -i their series, hist -i its estimates."""
    rec = tmp_path / "s.htr"
    truth = tmp_path / "r.truth"
    proc = run_heaptrail(["record", "--sample-bytes", "64K", "-o", str(rec), "-c",
                          f"{fixture_path('sampled')} {truth}"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    exact, _ = leaks_report([], tmp_path, "exact2")
    proc = run_heaptrail(["leaks", "--json", "-i", str(rec)])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert report["sample_bytes"] == N
    (pr,) = [p for p in report["processes"] if p["comm"] == "sampled"]
    (pe,) = [p for p in exact["processes"] if p["comm"] == "sampled"]
    for k in TOTALS:
        assert pr[k] == pe[k], (k, pr[k], pe[k])
    assert {site_of(s) for s in pr["stacks"]} >= {"site_16m", "site_64m"}
    # the live series: the totals, read every 50 ms while it was recorded
    proc = run_heaptrail(["timeline", "--json", "-i", str(rec)])
    assert proc.returncode == 0, proc.stderr
    (tp,) = [p for p in json.loads(proc.stdout)["processes"] if p["comm"] == "sampled"]
    assert tp["series"]["live_bytes"][-1][1] == pe["live_bytes"]
    assert len(tp["series"]["live_bytes"]) >= 5
    proc = run_heaptrail(["hist", "--json", "-i", str(rec)])
    assert proc.returncode == 0, proc.stderr
    (size,) = [h for h in json.loads(proc.stdout)["histograms"]
               if h["comm"] == "sampled" and h["name"] == "alloc_size"]
    assert size["estimated"] and abs(size["total"] - pe["allocs"]) <= 0.05 * pe["allocs"]
    page = tmp_path / "p.html"
    proc = run_heaptrail(["report", "-i", str(rec), "-o", str(page)])
    assert proc.returncode == 0 and '"sample_bytes":65536' in page.read_text(), proc.stderr


def test_sampled_pprof_and_folded(tmp_path):
    """--pprof and --folded in sampled mode: Go's pprof reads the estimates, which sum per
    process to the JSON report's stacks (inuse) and to the allocations it stands for (alloc:
    about the exact totals); the profile's period is N, as Go's heap profile gives its rate."""
    out, folded = tmp_path / "p.pb.gz", tmp_path / "f.folded"
    report, _ = leaks_report(["--sample-bytes", "64K", "--pprof", str(out), "--folded",
                              str(folded)], tmp_path, "pp")
    (p,) = [p for p in report["processes"] if p["comm"] == "sampled"]
    types, samples, _ = pprof_raw(out)
    assert types[:4] == ["alloc_objects/count", "alloc_space/bytes", "inuse_objects/count",
                         "inuse_space/bytes[dflt]"], types
    mine = [s for s in samples if s[4] == p["pid"]]
    assert sum(s[3] for s in mine) == sum(s["bytes"] for s in p["stacks"])
    assert sum(s[2] for s in mine) == sum(s["allocs"] for s in p["stacks"])
    # 707 MB allocated over the run, estimated from ~11,000 samples: within 5% (>10 sd)
    assert abs(sum(s[1] for s in mine) - p["alloc_bytes"]) <= 0.05 * p["alloc_bytes"]
    assert "Period: 65536" in pprof_raw_lines(out)[:4]
    lines = folded.read_text().splitlines()
    assert sum(int(l.rsplit(" ", 1)[1]) for l in lines if ";site_" in l) \
        == sum(s["bytes"] for s in p["stacks"] if site_of(s))


def test_sampled_timeline(tmp_path):
    """timeline --sample-bytes: the live series are the exact totals, a point every 50 ms
    and one at the end: the last is the exact run's last, none above its peak."""
    def series(args, name):
        truth = tmp_path / f"{name}.truth"
        proc = run_heaptrail(["timeline", "--json", *args, "-c",
                              f"{fixture_path('sampled')} {truth}"], timeout=120)
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        (p,) = [p for p in report["processes"] if p["comm"] == "sampled"]
        return report, p["series"]

    exact_r, exact = series([], "e")
    sampled_r, sampled = series(["--sample-bytes", "64K"], "s")
    assert exact_r["sample_bytes"] == 0 and sampled_r["sample_bytes"] == N
    for k in ("live_bytes", "live_allocs"):
        assert sampled[k][-1][1] == exact[k][-1][1], k
        assert max(v for _, v in sampled[k]) <= max(v for _, v in exact[k]), k
    ts = [t for t, _ in sampled["live_bytes"]]
    assert len(ts) >= 5 and all(b - a < 200_000_000 for a, b in zip(ts, ts[1:])), ts
    # the mappings are traced as without sampling
    assert sampled["mapped_bytes"] and sampled["heap_bytes"]


def test_sampled_hist(tmp_path):
    """hist --sample-bytes: the allocations' histograms are estimates, each sampled one
    counted by its weight; their totals within 5% of the exact counts (about 5 standard
    deviations here: 300,000 allocations of ~2 KiB, 700 MB); the syscalls' are exact."""
    truth = tmp_path / "h.truth"
    proc = run_heaptrail(["hist", "--json", "--sample-bytes", "64K", "-c",
                          f"{fixture_path('sampled')} {truth}"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    hists = [h for h in json.loads(proc.stdout)["histograms"] if h["comm"] == "sampled"]
    exact, _ = leaks_report([], tmp_path, "hx")
    (pe,) = [p for p in exact["processes"] if p["comm"] == "sampled"]
    (size,) = [h for h in hists if h["name"] == "alloc_size"]
    assert size["estimated"]
    assert abs(size["total"] - pe["allocs"]) <= 0.05 * pe["allocs"], (size["total"], pe)
    assert abs(size["sum"] - pe["alloc_bytes"]) <= 0.05 * pe["alloc_bytes"], (size["sum"], pe)
    assert size["max"] <= 256 * 1024 and size["min"] >= 16
    others = [h for h in hists if not h["name"].startswith("alloc_")]
    assert others and not any(h["estimated"] for h in others)


def exact_and_sampled(tmp_path, fixture, sample_args, extra=()):
    """(with -k, frees have return probes and BPF pairs them too)"""
    def run(args, name):
        truth = tmp_path / f"{name}.truth"
        proc = run_heaptrail(["leaks", "--json", *extra, *args, "-c",
                              f"{fixture_path(fixture)} {truth}"])
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout.splitlines()[-1])
        return sorted((p for p in report["processes"]), key=lambda p: p["start_ns"])

    return run([], "e"), run(sample_args, "s")


@pytest.mark.parametrize("fixture,extra", [("fork_leak", []), ("alloc_seq", []),
                                           ("cxx_alloc", []), ("double_free", []),
                                           ("alloc_seq", ["-k"])])
def test_sampled_totals_of_every_call(tmp_path, fixture, extra):
    """Every allocator function (the realloc cases and failures of alloc_seq, the operator
    new/delete variants whose returns and tail calls are told apart without uretprobes,
    double frees, a forked child that frees what it inherited): each process's totals as
    without sampling."""
    exact, sampled = exact_and_sampled(tmp_path, fixture, ["--sample-bytes", "4K"], extra)
    assert [p["comm"] for p in exact] == [p["comm"] for p in sampled]
    for pe, ps in zip(exact, sampled):
        for k in TOTALS:
            assert ps[k] == pe[k], (pe["comm"], k, ps[k], pe[k])
        # what BPF cannot tell apart, it counts together
        assert ps["unmatched_frees"] == \
            pe["unmatched_frees"] + pe["double_frees"] + pe["internal_frees"], pe["comm"]


def test_sampled_fork_stacks(tmp_path):
    """A forked child starts with its parent's blocks: one byte apart, every block the
    fixture makes is sampled, and the stacks are the exact run's."""
    exact, sampled = exact_and_sampled(tmp_path, "fork_leak", ["--sample-bytes", "1"])
    assert len(exact) == len(sampled) == 2
    for pe, ps in zip(exact, sampled):
        assert sorted((s["bytes"], s["allocs"], shown(s)) for s in ps["stacks"]) == \
            sorted((s["bytes"], s["allocs"], shown(s)) for s in pe["stacks"]), pe["comm"]


def test_sampled_system_wide_sweeps(tmp_path):
    """-a: every process's blocks are followed; those of processes that ended are swept out
    of the kernel's table while tracing goes on, and nothing is lost. The runs happen while
    heaptrail traces, however slow the machine (a fixed duration missed some under qemu)."""
    truth = tmp_path / "fl.truth"
    out, err = tmp_path / "out.json", tmp_path / "err.txt"
    ht = subprocess.Popen([HEAPTRAIL, "leaks", "-a", "-v", "--json", "--top", "1",
                           "--sample-bytes", "512K"], stdout=open(out, "w"), stderr=open(err, "w"))
    try:
        wait_for(err, "tracing allocations", timeout=60)
        for _ in range(8):
            subprocess.run([fixture_path("fork_leak"), str(truth)], check=True, timeout=60)
            time.sleep(0.1)
        time.sleep(2.5)  # sweeps run at most every 2 s (SAMPLE_SWEEP_NS): one after the last end
        ht.send_signal(signal.SIGINT)
        ht.wait(timeout=60)
    finally:
        ht.kill()
    stderr = err.read_text()
    assert ht.returncode == 0, stderr
    swept = re.search(r"sampling: (\d+) live blocks of ended processes swept", stderr)
    assert swept and int(swept[1]) > 0, stderr
    report = json.loads(out.read_text().splitlines()[-1])
    assert report["lost"]["sample_table"] == 0
    mine = [p for p in report["processes"] if p["comm"] == "fork_leak" and p["exited"]]
    assert len(mine) >= 16 and all(p["sampled"] for p in mine), len(mine)  # 8 parents, 8 children


@pytest.mark.parametrize("args,msg", [
    (["--sample-bytes", "0"], "--sample-bytes '0'"),
    (["--sample-bytes", "x"], "--sample-bytes 'x'"),
    (["--sample-table-size", "0"], "--sample-table-size"),
])
def test_sampled_bad_options(args, msg):
    proc = run_heaptrail(["leaks", *args, "-c", "true"])
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("heaptrail: ") and msg in lines[0], lines
