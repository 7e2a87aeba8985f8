# SPDX-License-Identifier: GPL-2.0-only
"""heaptrail leaks against fixtures that know what they leaked, and against valgrind."""
import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import fixture_path, read_truth, run_heaptrail


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
