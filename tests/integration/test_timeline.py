# SPDX-License-Identifier: GPL-2.0-only
"""heaptrail timeline: the reconstructed address space against the kernel's own view, and the
series against what fixtures know."""
import json
import subprocess

import pytest

from conftest import addr, fixture_path, read_truth, run_heaptrail, trace_json
from test_targets import attach_to_waiting


def kind_of(path):
    if not path or path == "/dev/zero (deleted)":
        return "anon"
    if path == "[heap]":
        return "heap"
    if path.startswith("[stack"):
        return "stack"
    if path.startswith("["):
        return "special"  # [vdso], [vvar], [vsyscall], [uprobes]
    return "shm" if path.startswith("/SYSV") else "file"


def merged(vmas):
    """Adjacent ranges of the same permissions and kind merged, the special ones left out."""
    out = []
    for start, end, perms, kind in vmas:
        if kind == "special":
            continue
        if out and out[-1][1] == start and out[-1][2:] == [perms, kind]:
            out[-1][1] = end
        else:
            out.append([start, end, perms, kind])
    return out


def kernel_view(path):
    vmas = []
    for line in open(path):
        f = line.split(None, 5)
        start, end = (int(x, 16) for x in f[0].split("-"))
        vmas.append((start, end, f[1], kind_of(f[5].strip() if len(f) > 5 else "")))
    return merged(vmas)


def our_view(report, pid):
    (p,) = [p for p in report["processes"] if p["pid"] == pid]
    return merged([(int(v["start"], 16), int(v["end"], 16), v["perms"], v["kind"])
                   for v in p["final_vmas"]])


def compare(ours, theirs):
    diff = sorted(set(map(tuple, ours)) ^ set(map(tuple, theirs)))
    assert not diff, "\n".join(f"{'ours' if list(d) in ours else 'kernel'}: {d[0]:#x}-{d[1]:#x} "
                               f"{d[2]} {d[3]}" for d in diff[:20])


def timeline(args):
    proc = run_heaptrail(["timeline", "--json"] + args, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_final_vmas_match_the_kernel(tmp_path, seed):
    maps = tmp_path / "maps.txt"
    report = timeline(["-c", f"{fixture_path('vma_ops')} {seed} 600 {maps}"])
    pid = next(p["pid"] for p in report["processes"] if p["comm"] == "vma_ops")
    theirs = kernel_view(maps)
    assert len(theirs) > 100  # the sequence left plenty to compare
    compare(our_view(report, pid), theirs)
    assert all(v == 0 for v in report["lost"].values())


def test_attach_after_mappings(tmp_path):
    maps = tmp_path / "maps.txt"
    # vma_ops says "ready" after half its 600 operations: heaptrail attaches to a process
    # that has already mapped memory
    pid, out = attach_to_waiting([fixture_path("vma_ops"), "7", "600", str(maps), "wait"],
                                 ["timeline", "--json"], "tracing; the timeline", tmp_path)
    report = json.loads(open(out).read())
    compare(our_view(report, pid), kernel_view(maps))


def value_at(series, ts):
    """The series' value in effect at ts: its last point at or before ts."""
    before = [v for t, v in series if t <= ts]
    return before[-1] if before else None


def test_heap_and_live_series(tmp_path):
    truth_file = tmp_path / "truth.jsonl"
    report = timeline(["-c", f"{fixture_path('heap_steps')} {truth_file}"])
    (p,) = [p for p in report["processes"] if p["comm"] == "heap_steps"]
    marks = [t for t in read_truth(truth_file) if t["event"] == "mark"]
    heap = [m for m in marks if m["what"] == "heap"]
    live = [m for m in marks if m["what"] == "live"]
    assert [m["value"] for m in heap] == [65536, 131072, 262144, 196608, 65536]
    for m in heap:
        assert value_at(p["series"]["heap_bytes"], m["ts"]) == m["value"], m
    for m in live:
        assert value_at(p["series"]["live_bytes"], m["ts"]) == m["value"], m
    # four blocks, then one freed: the count follows
    counts = [value_at(p["series"]["live_allocs"], m["ts"]) for m in live]
    assert counts == [1, 2, 3, 4, 3], counts
    # the other series are there, and time-ordered
    for name in ("mapped_bytes", "rss_anon", "faults"):
        pts = p["series"][name]
        assert pts and all(a[0] < b[0] for a, b in zip(pts, pts[1:])), name


def test_outputs(tmp_path):
    """Perfetto loads as JSON with the expected tracks, the CSV has every point, the SVG
    renders to PNG."""
    truth_file = tmp_path / "truth.jsonl"
    perfetto, csv, svg, png = (tmp_path / n for n in ("t.json", "t.csv", "t.svg", "t.png"))
    proc = run_heaptrail(["timeline", "--perfetto", str(perfetto), "--csv", str(csv),
                          "--svg", str(svg), "-c", f"{fixture_path('heap_steps')} {truth_file}"])
    assert proc.returncode == 0, proc.stderr
    pid = read_truth(truth_file)[0]["pid"]

    events = json.load(open(perfetto))["traceEvents"]
    names = [e for e in events if e["ph"] == "M" and e["name"] == "process_name"]
    assert any(e["pid"] == pid and e["args"]["name"] == f"heap_steps ({pid})" for e in names)
    assert any(e["ph"] == "M" and e["name"] == "thread_name" and e["tid"] == pid for e in events)
    tracks = {e["name"] for e in events if e["ph"] == "C" and e["pid"] == pid}
    assert {"heap_bytes", "live_bytes", "mapped_bytes", "rss_anon", "faults"} <= tracks
    heap = [e["args"]["bytes"] for e in events if e["ph"] == "C" and e["name"] == "heap_bytes"
            and e["pid"] == pid]
    assert 262144 in heap and 65536 in heap
    assert any(e["ph"] == "i" and e["name"].startswith("brk: heap") for e in events)

    rows = open(csv).read().splitlines()
    assert rows[0] == "pid,comm,series,unit,ts_ns,seconds,value"
    assert any(r.startswith(f'{pid},"heap_steps",heap_bytes,bytes,') and r.endswith(",262144")
               for r in rows)

    text = open(svg).read()
    assert f"pid {pid} (heap_steps): memory over time" in text
    assert "time since start (ms)" in text and "MiB" in text and "heap_bytes" in text
    subprocess.run(["rsvg-convert", str(svg), "-o", str(png)], check=True, timeout=60)
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_allocator_mappings_and_faults(tmp_path):
    truth_file = tmp_path / "truth.jsonl"
    report = timeline(["-c", f"{fixture_path('alloc_maps')} {truth_file}"])
    t = next(t for t in read_truth(truth_file) if t["event"] == "maps")
    (p,) = [p for p in report["processes"] if p["comm"] == "alloc_maps"]

    def vma_at(addr):
        a = int(addr, 16)
        (v,) = [v for v in p["final_vmas"] if int(v["start"], 16) <= a < int(v["end"], 16)]
        return v
    # malloc's own mapping of the 4 MiB block, the program's 2 MiB mapping
    assert vma_at(t["malloc"]).get("by_allocator") is True
    assert not vma_at(t["mmap"]).get("by_allocator")
    alloc_mapped = p["series"]["allocator_mapped_bytes"]
    assert alloc_mapped and max(v for _, v in alloc_mapped) >= 4 << 20
    faults = p["faults"]
    assert faults["by_kind"]["anon"]["write"] >= 3 and faults["by_kind"]["anon"]["read"] >= 2
    assert faults["first_touch"] >= 5 and faults["total"] >= faults["first_touch"]


def test_batched_faults_are_exact(tmp_path):
    """Faults travel in batches made in BPF (timeline, hist, record): none may be lost,
    duplicated, reordered within a thread or given to the wrong thread. A recording keeps
    them one by one, so trace -i shows what the batches carried."""
    truth_file, out = tmp_path / "truth.jsonl", tmp_path / "f.htr"
    pages = 3000
    proc = run_heaptrail(["record", "-o", str(out), "-c",
                          f"{fixture_path('fault_threads')} {truth_file} {pages}"])
    assert proc.returncode == 0, proc.stderr
    events, _ = trace_json(["-i", str(out), "-e", "fault"])
    touched = [t for t in read_truth(truth_file) if t["event"] == "touched"]
    assert len(touched) == 2
    for t in touched:
        base = addr(t["base"])
        mine = [e for e in events if base <= addr(e["address"]) < base + pages * 4096]
        assert len(mine) == pages
        assert {e["tid"] for e in mine} == {t["tid"]}
        assert sorted(addr(e["address"]) for e in mine) == [base + i * 4096 for i in range(pages)]
        assert all(e["write"] and not e["present"] and e["ip"] != "0x0" for e in mine)
        ts = [e["ts_ns"] for e in mine]
        assert ts == sorted(ts)
    # the same counts through the live report
    report = timeline(["-c", f"{fixture_path('fault_threads')} {tmp_path / 't2.jsonl'} {pages}"])
    p = [p for p in report["processes"] if p["comm"] == "fault_threads"][0]
    assert p["faults"]["by_kind"]["anon"]["write"] >= 2 * pages
    assert report["lost"]["ringbuf"] == 0
