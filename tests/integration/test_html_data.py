# SPDX-License-Identifier: GPL-2.0-only
"""leaks --html, the data the page draws (no browser: these run on every kernel; test_html.py
opens the page in Chromium on the host): per process the stacks' numbers sum to the JSON
report's, the time spans to the same, and each of the leaky fixture's leaks is there with its
bytes."""
import json

from conftest import fixture_path, read_truth, run_heaptrail

OPEN = '<script type="application/json" id="heaptrail-data">'


def page_data(path):
    """The JSON document inside the page, as the page's script reads it."""
    text = path.read_text()
    body = text[text.index(OPEN) + len(OPEN):]
    body = body[:body.index("</script>")]
    return json.loads(body)


def check_process(data, report, truth):
    (p,) = [p for p in data["processes"] if p["pid"] == truth[0]["pid"]]
    (r,) = [r for r in report["processes"] if r["pid"] == p["pid"]]
    for key in ("live_bytes", "live_allocs", "alloc_bytes", "allocs"):
        assert p[key] == r[key], (key, p[key], r[key])
    # a stack: [frames, live bytes, live allocs, allocated bytes, allocations, end, spans]
    for col, key in enumerate(("live_bytes", "live_allocs", "alloc_bytes", "allocs"), 1):
        assert sum(s[col] for s in p["stacks"]) == r[key], key
        assert sum(sp[col] for s in p["stacks"] for sp in s[6]) == r[key], key
    spans = [sp[0] for s in p["stacks"] for sp in s[6]]
    assert spans and max(spans) < data["time"]["spans"], spans
    assert data["time"]["dropped"] == 0
    for leak in (t for t in truth if t["event"] == "leak"):
        got = sum(s[1] for s in p["stacks"]
                  if s[0] and p["frames"][s[0][-1]][0].split("(")[0] == leak["function"])
        assert got == leak["bytes"], (leak, got)
    # the chart's series end where the run did
    assert p["series"]["live_bytes"] and p["series"]["live_bytes"][-1][1] == r["live_bytes"]
    assert all(t <= data["time"]["end_ns"] for t, _ in p["series"]["live_bytes"])


def test_page_data_equals_the_report(tmp_path):
    page = tmp_path / "leaks.html"
    proc = run_heaptrail(["leaks", "--json", "--html", str(page), "-c",
                          f"{fixture_path('leaky')} {tmp_path / 't.jsonl'}"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    data = page_data(page)
    assert data["about"]["command_line"][1:3] == ["leaks", "--json"], data["about"]
    assert "kernel" in data["about"] and "recording" not in data["about"]
    assert data["lost"] == report["lost"]
    check_process(data, report, read_truth(tmp_path / "t.jsonl"))


def test_page_data_from_a_recording(tmp_path):
    rec, page = tmp_path / "run.htr", tmp_path / "rec.html"
    proc = run_heaptrail(["record", "-o", str(rec), "-c",
                          f"{fixture_path('leaky')} {tmp_path / 't.jsonl'}"])
    assert proc.returncode == 0, proc.stderr
    proc = run_heaptrail(["leaks", "--json", "-i", str(rec), "--html", str(page)])
    assert proc.returncode == 0, proc.stderr
    data = page_data(page)
    assert data["about"]["recording"] == str(rec)
    check_process(data, json.loads(proc.stdout.splitlines()[-1]),
                  read_truth(tmp_path / "t.jsonl"))
