# SPDX-License-Identifier: GPL-2.0-only
"""leaks --html and heaptrail report, the data the page draws (no browser: these run on every kernel; test_html.py
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
    report = run_heaptrail(["leaks", "--json", "-i", str(rec)])
    assert report.returncode == 0, report.stderr
    # heaptrail report: the page alone, nothing on stdout
    proc = run_heaptrail(["report", "-i", str(rec), "-o", str(page)])
    assert proc.returncode == 0 and proc.stdout == "", proc
    assert proc.stderr.startswith(f"heaptrail: wrote {page}: "), proc.stderr
    data = page_data(page)
    assert data["about"]["recording"] == str(rec)
    assert data["about"]["command_line"][1:] == ["report", "-i", str(rec), "-o", str(page)]
    check_process(data, json.loads(report.stdout.splitlines()[-1]),
                  read_truth(tmp_path / "t.jsonl"))


def test_report_needs_a_recording_and_a_page(tmp_path):
    proc = run_heaptrail(["report", "-o", str(tmp_path / "p.html")])
    assert proc.returncode == 2 and proc.stderr == \
        "heaptrail: report reads a recording: give -i FILE\n", proc.stderr
    proc = run_heaptrail(["report", "-i", str(tmp_path / "none.htr")])
    assert proc.returncode == 2 and proc.stderr == "heaptrail: report needs -o FILE\n"
    proc = run_heaptrail(["report", "-c", "true", "-o", str(tmp_path / "p.html")])
    assert proc.returncode == 2 and proc.stderr.startswith("heaptrail: "), proc.stderr


def test_page_data_has_peaks_and_histograms(tmp_path):
    """phases: its churn never holds more than one 64-byte block per call site, its late leak
    holds 11,110 bytes at the end, its most; the size histogram counts every allocation, the
    lifetime histogram every free."""
    page = tmp_path / "p.html"
    proc = run_heaptrail(["leaks", "--json", "--html", str(page), "-c",
                          f"{fixture_path('phases')} {tmp_path / 't.jsonl'}"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    truth = read_truth(tmp_path / "t.jsonl")
    (p,) = [p for p in page_data(page)["processes"] if p["pid"] == truth[0]["pid"]]
    (r,) = [r for r in report["processes"] if r["pid"] == p["pid"]]

    def peaks(function):
        return [s[7] for s in p["stacks"]
                if s[0] and p["frames"][s[0][-1]][0].split("(")[0] == function]
    assert peaks("churn") == [64, 64], p["stacks"]
    assert peaks("late_leak") == [11110] and peaks("early_leak") == [3333]
    assert all(s[7] >= s[1] for s in p["stacks"])
    assert p["sizes"]["total"] == r["allocs"] and p["sizes"]["sum"] == r["alloc_bytes"]
    assert sum(b["count"] for b in p["sizes"]["buckets"]) == r["allocs"]
    assert p["lifetimes"]["total"] == r["frees"] == r["allocs"] - r["live_allocs"]
    (b,) = [b for b in p["sizes"]["buckets"] if b["lo"] <= 64 < b["hi"]]
    assert b["count"] >= 200, p["sizes"]


def test_timeline_writes_the_page(tmp_path):
    """timeline --html: the same page, whose chart is the timeline's; it is a report of its own
    (an option that two commands spell alike reaches the right one: before, timeline took
    leaks' --html and ignored it)."""
    page = tmp_path / "t.html"
    proc = run_heaptrail(["timeline", "--html", str(page), "-c",
                          f"{fixture_path('phases')} {tmp_path / 't.jsonl'}"])
    assert proc.returncode == 0 and proc.stdout == "", proc
    truth = read_truth(tmp_path / "t.jsonl")
    (p,) = [p for p in page_data(page)["processes"] if p["pid"] == truth[0]["pid"]]
    assert set(p["series"]) == {"live_bytes", "heap_bytes", "mapped_bytes", "rss_anon",
                                "rss_file", "rss_shmem", "rss_swap"}, p["series"].keys()
    assert p["series"]["heap_bytes"] and p["series"]["rss_anon"] and p["series"]["rss_file"]
    assert sum(s[1] for s in p["stacks"]) == p["live_bytes"] == 3333 + 11110 + sum(
        s[1] for s in p["stacks"] if s[0] and
        p["frames"][s[0][-1]][0].split("(")[0] not in ("early_leak", "late_leak"))
    proc = run_heaptrail(["timeline", "--html", str(page), "--svg", str(tmp_path / "t.svg"),
                          "-c", "true"])
    assert proc.returncode == 2 and proc.stderr.startswith("heaptrail: --html is a report"), \
        proc.stderr


def test_sampled_page(tmp_path):
    """leaks --sample-bytes --html: the page says it was sampled; its process totals and live
    series are the exact ones of the report, its stacks' live numbers the report's estimates,
    and what they allocated (over the whole run and span by span) the same within the
    sample's spread."""
    page = tmp_path / "s.html"
    proc = run_heaptrail(["leaks", "--json", "--top", "100000", "--sample-bytes", "64K",
                          "--html", str(page), "-c",
                          f"{fixture_path('sampled')} {tmp_path / 't.jsonl'}"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    data = page_data(page)
    assert data["sample_bytes"] == report["sample_bytes"] == 65536
    (r,) = [r for r in report["processes"] if r["comm"] == "sampled"]
    (p,) = [p for p in data["processes"] if p["pid"] == r["pid"]]
    for key in ("live_bytes", "live_allocs", "alloc_bytes", "allocs", "frees"):
        assert p[key] == r[key], key
    assert p["sampled"] and r["sampled"]
    assert sum(s[1] for s in p["stacks"]) == sum(s["bytes"] for s in r["stacks"])
    assert sum(s[2] for s in p["stacks"]) == sum(s["allocs"] for s in r["stacks"])
    # 707 MB allocated in ~11,000 samples: the estimates within 5% (> 5 sd)
    assert abs(sum(s[3] for s in p["stacks"]) - r["alloc_bytes"]) <= 0.05 * r["alloc_bytes"]
    spans = sum(sp[3] for s in p["stacks"] for sp in s[6])
    assert abs(spans - r["alloc_bytes"]) <= 0.05 * r["alloc_bytes"], spans
    assert p["series"]["live_bytes"][-1][1] == r["live_bytes"]
    assert abs(p["sizes"]["total"] - r["allocs"]) <= 0.05 * r["allocs"]
