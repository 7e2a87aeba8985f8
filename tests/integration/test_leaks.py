# SPDX-License-Identifier: GPL-2.0-only
"""heaptrail leaks against fixtures that know what they leaked, and against valgrind."""
import glob
import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import fixture_path, read_truth, run_heaptrail, without_bpf_loop


def leaks_json(args, timeout=60):
    proc = run_heaptrail(["leaks", "--json"] + args, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    reports = [json.loads(l) for l in proc.stdout.splitlines() if l.strip()]
    assert reports, proc.stderr
    return reports


def first_frame_named(stack, function):
    f = stack["frames"][0] if stack["frames"] else {}
    return (f.get("sym") or "").split("(")[0] == function


@pytest.fixture(scope="module")
def leaky(tmp_path_factory):
    truth_file = tmp_path_factory.mktemp("leaky") / "truth.jsonl"
    prog = fixture_path("leaky")
    report = leaks_json(["--top", "100", "-c", f"{prog} {truth_file}"])[-1]
    return report, read_truth(truth_file), prog


def test_exactly_the_known_leaks(leaky):
    report, truth, prog = leaky
    leaks = [t for t in truth if t["event"] == "leak"]
    (proc,) = [p for p in report["processes"] if p["pid"] == truth[0]["pid"]]
    assert proc["exited"] and proc["exit_code"] == 0
    assert proc["unmatched_frees"] == 0 and proc["double_frees"] == 0
    for leak in leaks:
        stacks = [s for s in proc["stacks"] if first_frame_named(s, leak["function"])]
        assert len(stacks) == 1, (leak, proc["stacks"])
        s = stacks[0]
        assert (s["bytes"], s["allocs"]) == (leak["bytes"], leak["allocs"]), leak
        top = s["frames"][0]
        assert top["file"].endswith("tests/fixtures/leaky.cc") and top["line"] == leak["line"]
        assert top["module"] == prog
        if "inlined_into" in leak:
            # an inlined frame at the helper's line, then the function it was inlined into,
            # at the line of the call, at the same address
            assert top["inlined"] is True
            outer = s["frames"][1]
            assert outer["sym"].split("(")[0] == leak["inlined_into"]
            assert outer["line"] == leak["call_line"] and outer["addr"] == top["addr"]
            assert not outer.get("inlined")
            assert s["frames"][2]["sym"] == "main"
        else:
            assert s["frames"][1]["sym"] == "main"
    # Nothing else the fixture's own code allocated is left: its churn is balanced. What
    # remains comes from the C++ runtime's start-up (its emergency exception pool).
    ours = [s for s in proc["stacks"] if any(f["module"] == prog for f in s["frames"])]
    assert len(ours) == len(leaks)
    others = [s for s in proc["stacks"] if s not in ours]
    assert all(s["frames"][0]["module"].split("/")[-1].startswith(("libstdc++", "libc.", "ld-"))
               for s in others), others
    assert sum(s["bytes"] for s in ours) == sum(l["bytes"] for l in leaks)
    assert proc["live_bytes"] == sum(s["bytes"] for s in proc["stacks"])
    assert all(v == 0 for v in report["lost"].values())


def test_valgrind_agrees(leaky, tmp_path):
    """valgrind --leak-check=full on the same fixture: the same bytes definitely lost from
    each leaking function."""
    _, truth, prog = leaky
    xml = tmp_path / "vg.xml"
    subprocess.run(["valgrind", "--leak-check=full", "--show-leak-kinds=definite", "--xml=yes",
                    f"--xml-file={xml}", prog, str(tmp_path / "truth.jsonl")],
                   check=True, capture_output=True, timeout=300)
    lost = {}
    for err in ET.parse(xml).getroot().iter("error"):
        if err.findtext("kind") != "Leak_DefinitelyLost":
            continue
        fns = [f.findtext("fn") or "" for f in err.find("stack").iter("frame")]
        # the first frame outside valgrind's allocator replacements is the leaking function
        caller = next(f for f in fns if not f.startswith(("malloc", "calloc", "realloc",
                                                          "posix_memalign", "aligned_alloc",
                                                          "memalign", "operator new")))
        lost[caller.split("(")[0]] = int(err.find("xwhat").findtext("leakedbytes"))
    for leak in (t for t in truth if t["event"] == "leak"):
        assert lost.get(leak["function"]) == leak["bytes"], (leak, lost)


def test_text_report(tmp_path):
    proc = run_heaptrail(["leaks", "--top", "3", "-c",
                          f"{fixture_path('leaky')} {tmp_path / 't.jsonl'}"])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "(leaky, exited with 0)" in out
    assert "240 bytes in 5 allocations from:" not in out  # 4th largest: beyond --top 3
    assert "1000 bytes in 1 allocation from:" in out
    assert "leak_realloc_chain()+0x" in out and "leaky.cc:" in out
    assert "... and " in out and "more stacks (--top)" in out
    assert "lost: ringbuf=0" in out


def test_min_age(tmp_path):
    # Everything the fixture leaked is younger than a minute when it exits.
    report = leaks_json(["--min-age", "60000", "-c",
                         f"{fixture_path('leaky')} {tmp_path / 't.jsonl'}"])[-1]
    (proc,) = report["processes"]
    assert proc["stacks"] == [] and proc["live_allocs"] > 0


def fixture_stacks(proc, prog):
    """The stacks of the allocations the fixture's own code made (its code called the allocator),
    not those the C library made for it (a thread's TLS block: now that stacks reach the
    fixture's frames through libc, those pass through its code too)."""
    return [s for s in proc["stacks"] if s["frames"] and s["frames"][0]["module"] == prog]


def test_child_leaks_after_fork_parent_does_not(tmp_path):
    prog = fixture_path("fork_leak")
    report = leaks_json(["--top", "50", "-c", f"{prog} {tmp_path / 't.jsonl'}"])[-1]
    truth = read_truth(tmp_path / "t.jsonl")
    parent_pid = next(t["pid"] for t in truth if t["event"] == "done")
    child_pid = next(t["child"] for t in truth if t["event"] == "done")
    procs = {p["pid"]: p for p in report["processes"]}
    parent, child = procs[parent_pid], procs[child_pid]
    # the parent freed everything, including a block its second thread freed for it
    assert fixture_stacks(parent, prog) == []
    assert parent["unmatched_frees"] == 0 and parent["double_frees"] == 0
    # the child freed its inherited copy (no unmatched free) and leaked its own three
    assert child["parent"] == parent_pid and child["unmatched_frees"] == 0
    (leak,) = fixture_stacks(child, prog)
    assert (leak["bytes"], leak["allocs"]) == (999, 3)
    assert first_frame_named(leak, "child_leak")


def test_pid_reuse_is_two_processes(tmp_path):
    prog = fixture_path("pid_reuse")
    report = leaks_json(["-c", f"{prog} {tmp_path / 't.jsonl'}"])[-1]
    truth = read_truth(tmp_path / "t.jsonl")
    pid = truth[0]["pid"]
    assert [t["pid"] for t in truth] == [pid, pid]
    same = [p for p in report["processes"] if p["pid"] == pid]
    assert len(same) == 2 and all(p["exited"] for p in same)
    assert same[0]["start_ns"] < same[1]["start_ns"]
    assert [[s["bytes"] for s in fixture_stacks(p, prog)] for p in same] == [[111], [222]]


def test_attach_after_allocations(tmp_path):
    """-p on a process that allocated before attach: its frees of those blocks count as
    unmatched frees, never as negative leaks."""
    from test_targets import attach_to_waiting
    prog = fixture_path("wait_alloc")
    _, out = attach_to_waiting([prog, str(tmp_path / "t.jsonl")], ["leaks", "--json"],
                               "tracing allocations", tmp_path)
    report = json.loads(open(out).read().splitlines()[-1])
    (proc,) = report["processes"]
    assert proc["comm"] == "wait_alloc"
    assert proc["unmatched_frees"] == 4 and proc["double_frees"] == 0
    assert proc["live_bytes"] >= 0 and fixture_stacks(proc, prog) == []


def test_interval_reports_growth(tmp_path):
    prog = fixture_path("slow_leak")
    reports = leaks_json(["--interval", "0.5", "-c", f"{prog} 40"], timeout=60)
    periodic = [r for r in reports if "report" in r]
    assert len(periodic) >= 2, reports
    growths = []
    for r in periodic:
        (proc,) = r["processes"]
        drip = [s for s in proc["stacks"] if first_frame_named(s, "drip")]
        if drip:
            growths.append(drip[0]["growth_bytes"])
            # growth is the change since the previous report, in whole leaked blocks
            assert drip[0]["growth_bytes"] % 1000 == 0
    # Each report holds everything that leaked before it: every interval saw drips (one each
    # 50 ms), and the growths add up to what the last periodic report holds.
    assert len(growths) >= 2 and all(g > 0 for g in growths), growths
    last = [s for s in periodic[-1]["processes"][0]["stacks"] if first_frame_named(s, "drip")]
    assert sum(growths) == last[0]["bytes"], (growths, last[0]["bytes"])
    final = reports[-1]
    assert "report" not in final
    (proc,) = final["processes"]
    (drip,) = [s for s in proc["stacks"] if first_frame_named(s, "drip")]
    assert (drip["bytes"], drip["allocs"]) == (40000, 40)


def test_jit_frames_are_anon(tmp_path):
    report = leaks_json(["-c", f"{fixture_path('jit_leak')} {tmp_path / 't.jsonl'}"])[-1]
    (t,) = read_truth(tmp_path / "t.jsonl")
    (proc,) = report["processes"]
    (leak,) = [s for s in proc["stacks"] if s["bytes"] == 77]
    top = leak["frames"][0]
    assert top["module"] == "[anon]" and top["sym"] is None and top["file"] is None
    # the return address lies just after the call instruction, inside the generated code
    assert int(t["code_start"], 16) < int(top["addr"], 16) <= int(t["code_end"], 16)
    assert leak["frames"][1]["sym"] == "main"


def test_debug_info_through_gnu_debuglink(tmp_path):
    """The same leaks from a binary whose DWARF lives in a separate file."""
    prog = fixture_path("leaky_debuglink")
    assert b".debug_info" not in open(prog, "rb").read()
    report = leaks_json(["--top", "100", "-c", f"{prog} {tmp_path / 't.jsonl'}"])[-1]
    leaks = [t for t in read_truth(tmp_path / "t.jsonl") if t["event"] == "leak"]
    (proc,) = report["processes"]
    for leak in leaks:
        (s,) = [s for s in proc["stacks"] if first_frame_named(s, leak["function"])]
        assert s["frames"][0]["line"] == leak["line"]
        assert s["frames"][0]["file"].endswith("leaky.cc")


def test_stack_depth_truncates(tmp_path):
    report = leaks_json(["--stack-depth", "2", "--top", "100", "-c",
                         f"{fixture_path('leaky')} {tmp_path / 't.jsonl'}"])[-1]
    (proc,) = report["processes"]
    (s,) = [s for s in proc["stacks"] if first_frame_named(s, "leak_calloc")]
    assert [f["sym"] for f in s["frames"]] == ["leak_calloc()", "main"]
    assert s["truncated"] is True


def leaks_of_double_free(tmp_path, *opts):
    """leaks on the double_free fixture, glibc's tcache off (it would abort otherwise)."""
    env = dict(os.environ, GLIBC_TUNABLES="glibc.malloc.tcache_count=0")
    proc = run_heaptrail(["leaks", "--json", *opts, "-c",
                          f"{fixture_path('double_free')} {tmp_path / 't.jsonl'}"], env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_double_free_with_its_caller(tmp_path):
    report = leaks_of_double_free(tmp_path)
    (t,) = read_truth(tmp_path / "t.jsonl")
    (p,) = report["processes"]
    assert p["exit_code"] == 0
    assert p["double_frees"] == 1 and p["unmatched_frees"] == 0
    (d,) = p["double_free"]
    assert d["addr"] == t["addr"]
    assert d["caller"]["sym"] == "free_again" and d["caller"]["line"] == t["line"]


def test_double_free_stack_with_free_stacks(tmp_path):
    (p,) = leaks_of_double_free(tmp_path, "--free-stacks")["processes"]
    (d,) = p["double_free"]
    (t,) = read_truth(tmp_path / "t.jsonl")
    assert [f["sym"] for f in d["frames"][:2]] == ["free_again", "main"]
    assert d["frames"][0]["line"] == t["line"]


FOLDED_LINE = re.compile(r"^(?P<comm>[^;]*) \((?P<pid>\d+)\)(?P<frames>(;[^;]+)+) (?P<n>[1-9]\d*)$")


def read_folded(path):
    """Each line parsed: the process it is of, its frames root first, its positive count."""
    lines = []
    for line in path.read_text().splitlines():
        m = FOLDED_LINE.match(line)
        assert m, line
        lines.append((int(m["pid"]), m["frames"][1:].split(";"), int(m["n"])))
    assert lines
    return lines


@pytest.mark.parametrize("metric,field", [("live-bytes", "live_bytes"),
                                          ("live-allocs", "live_allocs"),
                                          ("alloc-bytes", "alloc_bytes")])
def test_folded_stacks_sum_to_the_report(tmp_path, metric, field):
    """--folded: every line parses (frames root first, a positive integer last), and per
    process the lines sum to what the JSON report says, for each metric; the forked child's
    leak is main -> child_leak."""
    prog = fixture_path("fork_leak")
    folded = tmp_path / "f.folded"
    report = leaks_json(["--folded", str(folded), "--folded-metric", metric, "-c",
                         f"{prog} {tmp_path / 't.jsonl'}"])[-1]
    lines = read_folded(folded)
    for p in report["processes"]:
        assert sum(n for pid, _, n in lines if pid == p["pid"]) == p[field], (p, lines)
    truth = read_truth(tmp_path / "t.jsonl")
    child = next(t["child"] for t in truth if t["event"] == "done")
    leak = [(frames, n) for pid, frames, n in lines
            if pid == child and frames[-1].split("(")[0] == "child_leak"]
    assert len(leak) == 1, lines
    frames, n = leak[0]
    # below 5.17 (no bpf_loop) frame pointers only: the walk ends in libc, built without them
    root = "__libc_start_call_main" if without_bpf_loop() else "_start"
    assert frames[0] == root and "main" in frames, frames
    assert n == {"live-bytes": 999, "live-allocs": 3, "alloc-bytes": 999}[metric]


def test_freed_blocks_keep_their_frames_after_exit(tmp_path):
    """alloc-bytes counts blocks freed before their process exited. At its exit a process's
    module list is cut to what the reports still show: that includes those blocks' stacks, whose
    frames are then still told true (a frame-pointer walk's, which are checked; they were shown
    as [cut] before)."""
    folded = tmp_path / "f.folded"
    proc = run_heaptrail(["leaks", "--unwind", "fp", "--folded", str(folded), "--folded-metric",
                          "alloc-bytes", "-c",
                          f"{fixture_path('fork_leak')} {tmp_path / 't.jsonl'}"])
    assert proc.returncode == 0, proc.stderr
    lines = read_folded(folded)
    assert not [l for l in lines if l[1] == ["[cut]"]], lines
    # the parent's 4096 and 777 bytes, both freed, allocated in main
    assert [n for _, frames, n in lines if frames[-1] == "main"] == [4096 + 777], lines


def test_folded_names_the_known_leaks(leaky, tmp_path):
    """The leaky fixture's leaks, each the leaf of one live-bytes line with its bytes."""
    _, truth, prog = leaky
    folded = tmp_path / "f.folded"
    proc = run_heaptrail(["leaks", "--folded", str(folded), "-c",
                          f"{prog} {tmp_path / 't.jsonl'}"])
    assert proc.returncode == 0, proc.stderr
    lines = read_folded(folded)
    for leak in (t for t in truth if t["event"] == "leak"):
        got = [n for _, frames, n in lines if frames[-1].split("(")[0] == leak["function"]]
        assert got == [leak["bytes"]], (leak, lines)


def go_pprof():
    """Go's own pprof (Debian's golang-go), the binary `go tool pprof` runs."""
    found = glob.glob("/usr/lib/go-*/pkg/tool/linux_amd64/pprof")
    assert found, "golang-go is not installed (make test-deps)"
    return sorted(found)[-1]


def pprof_raw_lines(path):
    """What go tool pprof -raw prints of the profile at path, line by line."""
    proc = subprocess.run([go_pprof(), "-raw", str(path)], capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, HOME=str(path.parent)))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def pprof_raw(path):
    """go tool pprof -raw: the sample types, each sample's values with its pid label, and the
    locations' text."""
    lines = pprof_raw_lines(path)
    types = lines[lines.index("Samples:") + 1].split()
    samples, pid = [], None
    for line in lines[lines.index("Samples:") + 2:lines.index("Locations")]:
        m = re.match(r"^\s*([\d\s]+):", line)
        if m:
            samples.append([int(v) for v in m[1].split()])
        m = re.search(r"pid:\[(\d+)\]", line)
        if m:
            samples[-1].append(int(m[1]))
    locations = "\n".join(lines[lines.index("Locations"):])
    return types, samples, locations


def test_pprof_profile_read_by_go(tmp_path):
    """--pprof: Go's pprof reads the profile; per process its totals per sample type equal the
    JSON report's (inuse = live, alloc = every allocation), and the child's leak is a location
    in child_leak at its file and line."""
    prog = fixture_path("fork_leak")
    out = tmp_path / "p.pb.gz"
    report = leaks_json(["--pprof", str(out), "-c", f"{prog} {tmp_path / 't.jsonl'}"])[-1]
    types, samples, locations = pprof_raw(out)
    # as Go's heap profile: inuse_space is what pprof shows first ([dflt])
    assert types == ["alloc_objects/count", "alloc_space/bytes", "inuse_objects/count",
                     "inuse_space/bytes[dflt]"], types
    for p in report["processes"]:
        mine = [s for s in samples if s[4] == p["pid"]]
        assert [sum(s[k] for s in mine) for k in range(4)] == [
            p["allocs"], p["alloc_bytes"], p["live_allocs"], p["live_bytes"]], (p, mine)
    assert re.search(r"child_leak \S*tests/fixtures/fork_leak\.c:\d+", locations), locations


def test_stacks_dropped_once_unused_come_back_for_leaks(tmp_path):
    """Live, leaks drops every 5 s the stacks nothing refers to any more: beside a busy machine
    (the bench's compile loops) they were most of heaptrail's memory, 848,000 stacks kept for
    a 286 MiB peak. stack_reuse frees at 60 depths, waits past a drop, then leaks from the same
    60 stacks: each leak must come with its whole stack, sent again by BPF."""
    n = 60
    truth_file = tmp_path / "truth.jsonl"
    proc = run_heaptrail(["leaks", "--json", "-v", "--top", "1000", "-c",
                          f"{fixture_path('stack_reuse')} {truth_file} {n} 6500"], timeout=90)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    truth = read_truth(truth_file)
    (p,) = [p for p in report["processes"] if p["pid"] == truth[0]["pid"]]
    leaks = {t["bytes"]: t["depth"] for t in truth if t["event"] == "leak"}
    assert len(leaks) == n
    got = {s["bytes"]: s for s in p["stacks"] if s["bytes"] in leaks}
    assert sorted(got) == sorted(leaks), p["stacks"]
    for size, depth in leaks.items():
        names = [(f["sym"] or "").split("(")[0] for f in got[size]["frames"]]
        assert got[size]["allocs"] == 1
        assert names[0] == "reuse_leaf" and names.count("reuse_descend") == depth, names
        assert names[depth + 1] == "main", names
    # the first n stacks were dropped (their blocks freed), and came back
    m = re.search(r"\((\d+) distinct, (\d+) dropped once unused\)", proc.stderr)
    assert m and int(m.group(2)) >= n, proc.stderr
    assert p["live_allocs"] >= n and p["frees"] >= n
