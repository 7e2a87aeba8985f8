# SPDX-License-Identifier: GPL-2.0-only
"""heaptrail hist against a fixture whose distribution is known."""
import json
import os

from conftest import fixture_path, run_heaptrail


def hist_json(args):
    proc = run_heaptrail(["hist", "--json"] + args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def buckets(report, name, **match):
    hs = [h for h in report["histograms"] if h["name"] == name and "frames" not in h and
          all(h.get(k) == v for k, v in match.items())]
    assert len(hs) == 1, (name, match, hs)
    return {(b["lo"], b["hi"]): b["count"] for b in hs[0]["buckets"]}, hs[0]


def test_log2_histograms():
    report = hist_json(["-c", fixture_path("hist_sizes")])
    sizes, h = buckets(report, "alloc_size")
    assert h["unit"] == "bytes" and h["comm"] == "hist_sizes"
    # a C program that calls no stdio allocates nothing but these
    assert sizes == {(16, 32): 10, (64, 128): 20, (4096, 8192): 5}
    life, h = buckets(report, "alloc_lifetime")
    assert h["unit"] == "ns" and h["total"] == 30
    assert sum(c for (lo, hi), c in life.items() if lo >= 1 << 24) == 10  # lived >= 30 ms
    assert sum(c for (lo, hi), c in life.items() if hi <= 1 << 22) == 20  # freed at once
    maps, _ = buckets(report, "mmap_size")
    assert maps[(8 << 20, 16 << 20)] == 3
    lat, h = buckets(report, "syscall_latency", syscall="mmap")
    assert h["total"] >= 3 and all(c > 0 for c in lat.values())
    faults = {b["label"]: b["count"] for b in buckets(report, "faults")[1]["buckets"]}
    assert faults["write,not-present"] >= 32
    assert all(v == 0 for v in report["lost"].values())


def test_linear_buckets():
    report = hist_json(["--linear", "1024", "-c", fixture_path("hist_sizes")])
    sizes, _ = buckets(report, "alloc_size")
    assert sizes == {(0, 1024): 30, (4096, 5120): 5}


def test_by_stack():
    report = hist_json(["--by-stack", "-c", fixture_path("hist_sizes")])
    per_site = {h["frames"][0]["sym"]: {(b["lo"], b["hi"]): b["count"] for b in h["buckets"]}
                for h in report["histograms"] if h["name"] == "alloc_size" and "frames" in h}
    assert per_site["alloc16"] == {(16, 32): 10}
    assert per_site["alloc100"] == {(64, 128): 20}
    assert per_site["alloc5000"] == {(4096, 8192): 5}


def test_text_output():
    proc = run_heaptrail(["hist", "-c", fixture_path("hist_sizes")])
    assert proc.returncode == 0, proc.stderr
    assert "  alloc_size\n" in proc.stdout
    assert "        16 -> 31         : 10       |********************" in proc.stdout
    assert "syscall_latency mmap" in proc.stdout and "write,not-present" in proc.stdout


def test_syscall_histograms_kept_in_bpf(tmp_path):
    """Live, hist keeps the syscall latencies and mmap lengths in BPF (no record per call);
    a recording streams every call. Both must count the same calls and lengths."""
    def syscalls(report):
        lat = {h["syscall"]: h["total"] for h in report["histograms"]
               if h["name"] == "syscall_latency"}
        return lat, buckets(report, "mmap_size")[0]

    live = hist_json(["-c", fixture_path("hist_sizes")])
    out = tmp_path / "h.htr"
    proc = run_heaptrail(["record", "-o", str(out), "-c", fixture_path("hist_sizes")])
    assert proc.returncode == 0, proc.stderr
    from_file = hist_json(["-i", str(out)])
    assert syscalls(live) == syscalls(from_file)
    lat, maps = syscalls(live)
    assert lat["mmap"] >= 3 and lat["munmap"] >= 1 and maps[(8 << 20, 16 << 20)] == 3
    assert live["lost"]["sys_hist"] == 0


def test_syscall_histograms_merge_across_cpus():
    """Each CPU keeps its own copy of a process's histograms in BPF; the copy a CPU finds
    made by another starts empty, and its minimum must not read as 0. mmap_cpus maps
    4 KiB, 8 KiB, ... on each CPU in turn (the first on CPU 0)."""
    rounds, ncpu = 4, os.cpu_count()
    live = hist_json(["-c", f"{fixture_path('mmap_cpus')} {rounds}"])
    (size,) = [h for h in live["histograms"] if h["name"] == "mmap_size"]
    assert size["min"] <= 4096 and size["min"] > 0, size
    assert size["max"] >= 4096 * rounds * ncpu, size
    (lat,) = [h for h in live["histograms"]
              if h["name"] == "syscall_latency" and h["syscall"] == "munmap"]
    assert lat["total"] >= rounds * ncpu and lat["min"] > 0, lat
