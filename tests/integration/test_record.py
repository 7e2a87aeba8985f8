# SPDX-License-Identifier: GPL-2.0-only
"""heaptrail record, then every report from the file: the same answers as live, and clear
errors for files cut short or corrupted."""
import json
import os
import stat

import pytest

from conftest import fixture_path, read_truth, run_heaptrail, truth_windows, windows
from test_trace import compare_window


def record(tmp_path, cmd, name="rec.htr"):
    out = tmp_path / name
    proc = run_heaptrail(["record", "-o", str(out), "-c", cmd], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "lost events: none" in proc.stderr
    return out


def test_file_is_private_and_described(tmp_path):
    out = record(tmp_path, f"{fixture_path('hist_sizes')}")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    head = open(out, "rb").read(4096)
    assert head.startswith(b"HEAPTRL\n")
    meta = json.loads(head[16:16 + int.from_bytes(head[12:16], "little")])
    assert meta["format_version"] == 4 and meta["clock"] == "CLOCK_MONOTONIC"
    assert meta["kernel"] == os.uname().release and meta["arch"] == "x86_64"
    assert meta["command_line"][:2] == ["heaptrail", "record"]


def test_leaks_from_file(tmp_path):
    truth_file = tmp_path / "truth.jsonl"
    prog = fixture_path("leaky")
    out = record(tmp_path, f"{prog} {truth_file}")
    proc = run_heaptrail(["leaks", "--json", "--top", "100", "-i", str(out)])
    assert proc.returncode == 0, proc.stderr
    (p,) = json.loads(proc.stdout.splitlines()[-1])["processes"]
    for leak in (t for t in read_truth(truth_file) if t["event"] == "leak"):
        (s,) = [s for s in p["stacks"]
                if (s["frames"][0]["sym"] or "").split("(")[0] == leak["function"]]
        assert (s["bytes"], s["allocs"]) == (leak["bytes"], leak["allocs"])
        # symbols from the mappings recorded while the process lived
        assert s["frames"][0]["line"] == leak["line"]


def test_hist_from_file(tmp_path):
    out = record(tmp_path, fixture_path("hist_sizes"))
    proc = run_heaptrail(["hist", "--json", "-i", str(out)])
    assert proc.returncode == 0, proc.stderr
    hs = json.loads(proc.stdout)["histograms"]
    sizes = next(h for h in hs if h["name"] == "alloc_size")
    assert {(b["lo"], b["hi"]): b["count"] for b in sizes["buckets"]} == \
        {(16, 32): 10, (64, 128): 20, (4096, 8192): 5}
    maps = next(h for h in hs if h["name"] == "mmap_size")
    assert {(b["lo"], b["hi"]): b["count"] for b in maps["buckets"]}[(8 << 20, 16 << 20)] == 3


def test_trace_from_file(tmp_path):
    truth_file = tmp_path / "truth.jsonl"
    out = record(tmp_path, f"{fixture_path('alloc_seq')} {truth_file}")
    proc = run_heaptrail(["trace", "--json", "-i", str(out)])
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(l) for l in proc.stdout.splitlines()]
    got, want = windows(events), truth_windows(read_truth(truth_file))
    assert set(got) == set(want)
    for key in want:
        compare_window(key, want[key], got[key])
    assert all(e["comm"] == "alloc_seq" for e in events if e["event"] == "malloc")


@pytest.fixture(scope="module")
def big_recording(tmp_path_factory):
    """A recording of several blocks: 200,000 malloc/free pairs."""
    tmp = tmp_path_factory.mktemp("big")
    return record(tmp, f"{fixture_path('churn')} 100000", "big.htr")


def leaks_from(path):
    return run_heaptrail(["leaks", "--json", "-i", str(path)])


def test_cut_short(big_recording, tmp_path):
    data = open(big_recording, "rb").read()
    cut = tmp_path / "cut.htr"
    cut.write_bytes(data[:len(data) // 2])
    proc = leaks_from(cut)
    # read to its last complete block, with a warning that says what was lost
    assert proc.returncode == 0, proc.stderr
    assert "is cut short in block" in proc.stderr and "are lost" in proc.stderr
    (p,) = json.loads(proc.stdout.splitlines()[-1])["processes"]
    full = json.loads(leaks_from(big_recording).stdout.splitlines()[-1])["processes"][0]
    assert 0 < p["allocs"] < full["allocs"]


@pytest.mark.parametrize("where,message", [
    (0, "not a heaptrail recording (wrong magic)"),
    (8, "format version"),
    ("block", "is corrupt"),
])
def test_corrupt(big_recording, tmp_path, where, message):
    data = bytearray(open(big_recording, "rb").read())
    if where == "block":
        where = len(data) // 3  # inside a compressed block
    data[where] ^= 0x5A
    bad = tmp_path / "bad.htr"
    bad.write_bytes(bytes(data))
    proc = leaks_from(bad)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("heaptrail: ") and message in lines[0], lines
    assert proc.stdout == ""


def test_not_a_file(tmp_path):
    proc = leaks_from(tmp_path / "missing.htr")
    assert proc.returncode == 1 and "cannot open" in proc.stderr
    empty = tmp_path / "empty.htr"
    empty.write_bytes(b"")
    proc = leaks_from(empty)
    assert proc.returncode == 1 and "too short" in proc.stderr


def test_record_usage():
    proc = run_heaptrail(["record", "-c", "true"])
    assert proc.returncode == 2 and "-o FILE" in proc.stderr
    proc = run_heaptrail(["leaks", "-o", "x.htr", "-c", "true"])
    assert proc.returncode == 2


def test_timeline_from_file(tmp_path):
    """The address space rebuilt from a recording equals the kernel's view at the end."""
    from test_timeline import compare, kernel_view, our_view
    maps = tmp_path / "maps.txt"
    out = record(tmp_path, f"{fixture_path('vma_ops')} 3 600 {maps}")
    proc = run_heaptrail(["timeline", "--json", "-i", str(out)])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    pid = next(p["pid"] for p in report["processes"] if p["comm"] == "vma_ops")
    compare(our_view(report, pid), kernel_view(maps))


def test_timeline_from_file_names_mappings_as_live(tmp_path):
    """Paths of file mappings (their fds closed at once) and a System V segment's size come
    from the live process; the recording carries a maps snapshot read at the same moment, so
    the timeline from the file is the live one, names and sizes included."""
    from test_timeline import kernel_view, our_view, compare

    def final(report):
        p = next(p for p in report["processes"] if p["comm"] == "map_files")
        return p["pid"], [(v["start"], v["end"], v["perms"], v["kind"], v.get("path"))
                          for v in p["final_vmas"]]

    maps = tmp_path / "maps.txt"
    # alive 1 s after its last mapping: the names are read while it lives
    cmd = f"{fixture_path('map_files')} {tmp_path / 'mapped.dat'} {maps} 1000"
    live = run_heaptrail(["timeline", "--json", "-c", cmd])
    assert live.returncode == 0, live.stderr
    live_pid, live_vmas = final(json.loads(live.stdout))
    compare(our_view(json.loads(live.stdout), live_pid), kernel_view(maps))
    named = [v for v in live_vmas if v[4] and v[4].endswith("mapped.dat")]
    assert len(named) == 5, live_vmas  # shared split in 3 by mprotect, private in 2 by munmap
    assert [v for v in live_vmas if v[3] == "shm"], live_vmas

    out = record(tmp_path, cmd)
    proc = run_heaptrail(["timeline", "--json", "-i", str(out)])
    assert proc.returncode == 0, proc.stderr
    rec_pid, rec_vmas = final(json.loads(proc.stdout))
    compare(our_view(json.loads(proc.stdout), rec_pid), kernel_view(maps))
    # two runs of one program: compare what does not move with ASLR (sizes, not addresses)
    def shape(vmas):
        out = []
        for start, end, perms, kind, path in vmas:
            if kind == "shm":
                out.append((int(end, 16) - int(start, 16), perms, kind, "SYSV"))
            elif kind == "file" and path and path.endswith("mapped.dat"):
                out.append((int(end, 16) - int(start, 16), perms, kind, "mapped.dat"))
        return sorted(out)
    assert len(shape(live_vmas)) == 6
    assert shape(rec_vmas) == shape(live_vmas), (rec_vmas, live_vmas)
