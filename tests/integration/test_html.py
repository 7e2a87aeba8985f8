# SPDX-License-Identifier: GPL-2.0-only
"""leaks --html: one self-contained page, opened from file:// in Debian's headless Chromium with
the network shut (selenium, chromium-driver): it asks for nothing, logs no error, and its flame
graph and table hold the leaky fixture's leaks with the bytes the JSON report gives."""
import contextlib
import json
import os

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from conftest import HEAPTRAIL, fixture_path, read_truth, run_heaptrail

BUILD = os.path.dirname(HEAPTRAIL)


@contextlib.contextmanager
def chromium(tmp_path):
    """Headless Chromium, without the background connections it makes on its own, every host
    name unresolvable and every connection sent to a closed port: the page has no network."""
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1400,1000",
                f"--user-data-dir={tmp_path / 'chromium'}",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]:
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def open_page(driver, path):
    """Loads the page; returns the URLs asked for on its behalf, itself included (the requests
    of the browser's own start page, still loading, are not the page's)."""
    url = f"file://{path}"
    driver.get(url)
    events = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    return [e["params"]["request"]["url"] for e in events
            if e["method"] == "Network.requestWillBeSent" and
            e["params"].get("documentURL") == url]


def errors(driver):
    return [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def nodes(driver):
    """The flame graph's drawn nodes: (element, name, value, self)."""
    return [(n, n.get_attribute("data-name"), int(n.get_attribute("data-value")),
             int(n.get_attribute("data-self")))
            for n in driver.find_elements(By.CSS_SELECTOR, ".ht-node")]


def self_bytes(driver, function):
    """What the drawn graph says function itself holds, over every path it is on."""
    return sum(s for _, name, _, s in nodes(driver) if name.split("(")[0] == function)


@pytest.fixture(scope="module")
def leaky_html(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("html")
    page = tmp / "leaks.html"
    proc = run_heaptrail(["leaks", "--json", "--top", "100", "--html", str(page), "-c",
                          f"{fixture_path('leaky')} {tmp / 't.jsonl'}"])
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    truth = read_truth(tmp / "t.jsonl")
    (p,) = [p for p in report["processes"] if p["pid"] == truth[0]["pid"]]
    return page, report, p, truth


def test_page_shows_the_known_leaks(leaky_html, tmp_path):
    page, report, proc, truth = leaky_html
    leaks = [t for t in truth if t["event"] == "leak"]
    with chromium(tmp_path) as d:
        asked = open_page(d, page)
        assert asked == [f"file://{page}"], asked
        assert d.title == "heaptrail report"
        # the whole process at the root, in every metric
        (root,) = [n for n in nodes(d) if n[1] == "all"]
        assert root[2] == proc["live_bytes"], root
        assert int(d.find_element(By.CSS_SELECTOR, ".ht-lost").get_attribute("data-lost")) \
            == sum(report["lost"].values())
        # a scripted click on main zooms: main across the whole width, its callers above
        (main,) = [n for n in nodes(d) if n[1] == "main"]
        main[0].click()
        (main,) = [n for n in nodes(d) if n[1] == "main"]
        assert main[0].get_attribute("style").count("width: 100%") == 1, \
            main[0].get_attribute("style")
        assert "ht-above" in [n for n in nodes(d) if n[1] == "all"][0][0].get_attribute("class")
        assert main[2] == sum(s["bytes"] for s in proc["stacks"]
                              if "main" in [f["sym"] for f in s["frames"]])
        # zoomed, even the smallest leak is wide enough to be drawn, with its bytes
        for leak in leaks:
            assert self_bytes(d, leak["function"]) == leak["bytes"], (leak, nodes(d))
        # hovering a frame says its numbers
        (leak,) = [n for n in nodes(d) if n[1].split("(")[0] == leaks[0]["function"]]
        ActionChains(d).move_to_element(leak[0]).perform()
        status = d.find_element(By.CSS_SELECTOR, "details[open] .ht-status").text
        assert status.startswith(leak[1]) and "live bytes" in status, status
        # the table of call sites has each leak's function
        rows = {r.get_attribute("data-name").split("(")[0]
                for r in d.find_elements(By.CSS_SELECTOR, "table.ht-sites tbody tr")}
        assert {t["function"] for t in leaks} <= rows, rows
        # sorted by live bytes; a click on a column's head sorts by it: churn's 2,000 calls
        # come first by allocations
        first = lambda: d.find_element(By.CSS_SELECTOR, "table.ht-sites tbody tr")
        assert first().get_attribute("data-name").split("(")[0] != "churn"
        [h for h in d.find_elements(By.CSS_SELECTOR, "table.ht-sites th")
         if h.text == "allocations"][0].click()
        assert first().get_attribute("data-name").split("(")[0] == "churn"
        # a search marks what matches and sums it once per path
        d.find_element(By.ID, "ht-search").send_keys("leak_")
        note = d.find_element(By.CSS_SELECTOR, "details[open] .ht-graph-note")
        assert int(note.get_attribute("data-matched")) == sum(
            s["bytes"] for s in proc["stacks"]
            if any((f["sym"] or "").startswith("leak_") for f in s["frames"]))
        marked = {n[1] for n in nodes(d) if "ht-match" in n[0].get_attribute("class")}
        assert marked and all(m.startswith("leak_") for m in marked), marked
        d.save_screenshot(os.path.join(BUILD, "html-report.png"))
        # another metric: the root holds the process's allocations over the run
        Select(d.find_element(By.ID, "ht-metric")).select_by_visible_text("allocations")
        (root,) = [n for n in nodes(d) if n[1] == "all"]
        assert root[2] == proc["allocs"], root
        assert errors(d) == []


def test_page_from_a_recording(leaky_html, tmp_path):
    """leaks -i: the same page from a recording of the same fixture, which says where its
    numbers come from."""
    rec, page = tmp_path / "run.htr", tmp_path / "rec.html"
    proc = run_heaptrail(["record", "-o", str(rec), "-c",
                          f"{fixture_path('leaky')} {tmp_path / 't.jsonl'}"])
    assert proc.returncode == 0, proc.stderr
    proc = run_heaptrail(["leaks", "-i", str(rec), "--html", str(page)])
    assert proc.returncode == 0, proc.stderr
    leaks = [t for t in read_truth(tmp_path / "t.jsonl") if t["event"] == "leak"]
    with chromium(tmp_path) as d:
        assert open_page(d, page) == [f"file://{page}"]
        assert f"from the recording {rec}" in d.find_element(By.CSS_SELECTOR, ".ht-about").text
        (main,) = [n for n in nodes(d) if n[1] == "main"]
        main[0].click()
        for leak in leaks:
            assert self_bytes(d, leak["function"]) == leak["bytes"], (leak, nodes(d))
        assert errors(d) == []



def drag_on_chart(driver, chart, start, end):
    """A mouse drag across the chart from start to end, as shares of its time axis (the
    chart's own margins as report.js draws them: 80 and 10 of 1000)."""
    width = chart.size["width"]

    def offset(share):  # from the element's centre, as WebDriver's actions count
        return (80 + 910 * share) / 1000 * width - width / 2
    ActionChains(driver).move_to_element_with_offset(chart, offset(start), 0) \
        .click_and_hold().move_to_element_with_offset(chart, offset(end), 0) \
        .release().perform()


def test_time_range_shows_what_it_allocated(tmp_path):
    """phases leaks early, then half a second later leaks again: a drag over the chart's later
    part shows late_leak's bytes and none of early_leak's, in the graph and the table; the
    allocations metric counts that phase's churn too; a click on the chart gives the whole run
    back."""
    page = tmp_path / "p.html"
    proc = run_heaptrail(["leaks", "--json", "--html", str(page), "-c",
                          f"{fixture_path('phases')} {tmp_path / 't.jsonl'}"])
    assert proc.returncode == 0, proc.stderr
    truth = {t["function"]: t for t in read_truth(tmp_path / "t.jsonl")}
    (whole,) = [p for p in json.loads(proc.stdout.splitlines()[-1])["processes"]
                if p["comm"] == "phases"]
    with chromium(tmp_path) as d:
        assert open_page(d, page) == [f"file://{page}"]
        (details,) = d.find_elements(By.CSS_SELECTOR, "details[open]")
        assert details.find_elements(By.CSS_SELECTOR, ".ht-chart path[data-series=live_bytes]")
        for f in ("early_leak", "late_leak"):
            assert self_bytes(d, f) == truth[f]["bytes"], nodes(d)
        # a series' name in the legend hides it
        details.find_element(By.CSS_SELECTOR, ".ht-series[data-series=mapped_bytes]").click()
        assert not details.find_elements(By.CSS_SELECTOR,
                                         ".ht-chart path[data-series=mapped_bytes]")
        chart = details.find_element(By.CSS_SELECTOR, ".ht-chart")
        drag_on_chart(d, chart, 0.3, 0.95)
        start, end = map(int, details.get_attribute("data-range").split())
        assert 0 < start < end, (start, end)
        assert self_bytes(d, "late_leak") == truth["late_leak"]["bytes"], nodes(d)
        assert self_bytes(d, "early_leak") == 0, nodes(d)
        rows = {r.get_attribute("data-name").split("(")[0]
                for r in d.find_elements(By.CSS_SELECTOR, "table.ht-sites tbody tr")}
        assert "late_leak" in rows and "early_leak" not in rows, rows
        assert "Showing what was allocated from" in details.text
        d.save_screenshot(os.path.join(BUILD, "html-report-range.png"))
        # allocations made in the range: late_leak's and the second churn's (and no others
        # of the program, which sleeps)
        Select(d.find_element(By.ID, "ht-metric")).select_by_visible_text("allocations")
        counts = {}
        for _, name, _, s in nodes(d):
            counts[name.split("(")[0]] = counts.get(name.split("(")[0], 0) + s
        assert counts.get("late_leak") == truth["late_leak"]["allocs"], counts
        assert counts.get("churn") == 100 and "early_leak" not in counts, counts
        # the histograms: every allocation in the size one, the churn's 200 blocks of 64 bytes
        # in one row
        sizes = details.find_element(By.CSS_SELECTOR, ".ht-hist[data-hist=sizes]")
        rows = sizes.find_elements(By.CSS_SELECTOR, "tr")
        assert sum(int(r.get_attribute("data-count")) for r in rows) == whole["allocs"]
        assert any(int(r.get_attribute("data-lo")) <= 64 and
                   int(r.get_attribute("data-count")) >= 200 for r in rows)
        assert details.find_elements(By.CSS_SELECTOR, ".ht-hist[data-hist=lifetimes] tr")
        # a click clears the range
        Select(d.find_element(By.ID, "ht-metric")).select_by_visible_text("live bytes")
        drag_on_chart(d, chart, 0.5, 0.5)
        assert details.get_attribute("data-range") is None
        assert self_bytes(d, "early_leak") == truth["early_leak"]["bytes"], nodes(d)
        assert errors(d) == []


def test_losses_are_prominent(tmp_path):
    """A ring buffer too small for the churn loses events: the page says so in its banner, with
    the JSON report's count."""
    page = tmp_path / "lost.html"
    proc = run_heaptrail(["leaks", "--json", "--ringbuf-size", "4096", "--html", str(page),
                          "-c", f"{fixture_path('churn')} 200000"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    lost = json.loads(proc.stdout.splitlines()[-1])["lost"]
    assert sum(lost.values()) > 0, lost
    with chromium(tmp_path) as d:
        assert open_page(d, page) == [f"file://{page}"]
        banner = d.find_element(By.CSS_SELECTOR, ".ht-lost")
        assert "ht-bad" in banner.get_attribute("class")
        assert int(banner.get_attribute("data-lost")) == sum(lost.values())
        assert f"ringbuf {lost['ringbuf']:,}" in banner.text, banner.text
        assert errors(d) == []


def test_sampled_page_says_so(tmp_path):
    """A sampled run's page says that its stacks are estimates, with the rate."""
    page = tmp_path / "sampled.html"
    proc = run_heaptrail(["leaks", "--sample-bytes", "64K", "--html", str(page), "-c",
                          f"{fixture_path('sampled')} {tmp_path / 't.jsonl'}"], timeout=120)
    assert proc.returncode == 0, proc.stderr
    with chromium(tmp_path) as d:
        assert open_page(d, page) == [f"file://{page}"]
        note = d.find_element(By.CSS_SELECTOR, ".ht-sampled")
        assert note.get_attribute("data-sample-bytes") == "65536"
        assert "one allocation per 65,536 bytes" in note.text and "estimates" in note.text
        assert nodes(d) and errors(d) == []
        d.save_screenshot(os.path.join(BUILD, "html-report-sampled.png"))
