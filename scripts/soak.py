#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""make soak: `heaptrail serve -a` for SOAK_SECONDS (default 600) beside a workload that starts
and ends short-lived processes all the time (shell loops running sort, ls, and a fixture that
allocates), scraped as a fleet would: /metrics every 5 s, the whole heap profile every 15 s.
heaptrail's RSS is read every 10 s; the target is an RSS at the end within 10% of the RSS after
the first minute (SOAK_BASE seconds, to be set past SOAK_RETAIN: the steady state comes once
exited processes start to be forgotten). Prints one table to paste into an issue; exits 1
when the target is missed."""
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HT = os.path.join(ROOT, "build", "heaptrail")
SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
RETAIN = os.environ.get("SOAK_RETAIN", "30")
# the baseline: RSS this long after the start (steady state comes once --retain has passed)
BASE = int(os.environ.get("SOAK_BASE", "60"))
CHURN = os.path.join(ROOT, "build", "fixtures", "churn")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read())[1])


def metric(text, name):
    """The sum of a metric's samples (its label sets added up)."""
    return sum(float(v) for v in re.findall(r"^" + name + r"(?:\{[^}]*\})? (\S+)$", text,
                                            re.M))


def main():
    tmp = tempfile.mkdtemp(prefix="heaptrail-soak-")
    words = os.path.join(tmp, "words")
    with open(words, "w") as f:
        for i in range(20000):
            f.write(f"{(i * 7919) % 20011:05d} line {i}\n")
    srv = subprocess.Popen([HT, "serve", "--listen", "127.0.0.1:0", "--retain", RETAIN],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    addr = None
    for line in srv.stderr:
        m = re.search(r"serving http://([\d.:]+)/metrics", line)
        if m:
            addr = m[1]
        if "tracing allocations" in line:
            break
    assert addr, "serve did not start"
    loops = [
        subprocess.Popen(["sh", "-c", f"while :; do sort {words} >/dev/null; ls /usr/lib "
                          ">/dev/null; done"], stdout=subprocess.DEVNULL),
        subprocess.Popen(["sh", "-c", f"while :; do {CHURN} 2000 >/dev/null; /bin/true; done"]
                         if os.path.exists(CHURN) else
                         ["sh", "-c", "while :; do /bin/true; done"],
                         stdout=subprocess.DEVNULL),
    ]
    start = time.time()
    samples, scrapes, profiles, errors = [], 0, 0, 0
    next_metrics = next_heap = next_rss = start
    text = ""
    try:
        while time.time() - start < SECONDS:
            now = time.time()
            if now >= next_metrics:
                try:
                    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=30) as r:
                        text = r.read().decode()
                    scrapes += 1
                except OSError:
                    errors += 1
                next_metrics += 5
            if now >= next_heap:
                try:
                    with urllib.request.urlopen(f"http://{addr}/debug/pprof/heap",
                                                timeout=60) as r:
                        r.read()
                    profiles += 1
                except OSError:
                    errors += 1
                next_heap += 15
            if now >= next_rss:
                samples.append((now - start, rss_kib(srv.pid), metric(text, "heaptrail_stacks"),
                                metric(text, r"heaptrail_processes_forgotten_total"),
                                metric(text, r"heaptrail_stacks_dropped_total"),
                                metric(text, "heaptrail_self_heap_bytes"),
                                metric(text, "heaptrail_self_table_bytes")))
                next_rss += 10
            time.sleep(0.2)
    finally:
        for p in loops:
            p.kill()
            p.wait()
        srv.send_signal(signal.SIGINT)
        srv.wait(timeout=60)
    after_minute = [s for s in samples if s[0] >= BASE]
    first, last = after_minute[0], samples[-1]
    ratio = last[1] / first[1]
    print(f"## heaptrail serve -a --retain {RETAIN}: {SECONDS} s beside short-lived processes\n")
    print(f"command: `make soak` (SOAK_SECONDS={SECONDS}, SOAK_RETAIN={RETAIN}, "
          f"SOAK_BASE={BASE})\n")
    print("| t (s) | RSS (MiB) | heap (MiB) | tables (MiB) | stacks kept | processes forgotten "
          "| stacks dropped |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for t, rss, st, fg, dr, heap, tables in (samples[::int(os.environ.get("SOAK_EVERY", "6"))]
                                             + ([last] if (len(samples) - 1) % 6 else [])):
        print(f"| {t:.0f} | {rss / 1024:.1f} | {heap / 2**20:.1f} | {tables / 2**20:.1f} "
              f"| {st:.0f} | {fg:.0f} | {dr:.0f} |")
    print(f"\nRSS after {first[0]:.0f} s {first[1] / 1024:.1f} MiB, at the end "
          f"{last[1] / 1024:.1f} MiB: {ratio:.3f}x (target <= 1.10); median over the run "
          f"{statistics.median(s[1] for s in samples) / 1024:.1f} MiB; {scrapes} scrapes of "
          f"/metrics, {profiles} heap profiles, {errors} failed requests")
    return 0 if ratio <= 1.10 and not errors else 1


if __name__ == "__main__":
    sys.exit(main())
