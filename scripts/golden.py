#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""Output snapshots for changes that must not change behaviour (a refactor): runs trace,
leaks, hist and timeline --json, and record followed by each report with -i (and the
timeline's SVG, CSV and Perfetto forms from the file), on four fixtures, with address
randomisation off, and writes every output normalised (times, latencies and pids replaced,
run-to-run noise dropped) to one file per run in DIR.

Known noise: a short-lived process can be gone before heaptrail reads its mappings for a
file mmap (live and recorded alike), which leaves that mapping's path null; vma_ops shows it
for its libc mappings now and then.

  scripts/golden.py save DIR        (as root, after make all fixtures)
  diff -r DIR_BEFORE DIR_AFTER      what changed
  scripts/golden.py replay DIR OUT  the -i outputs of DIR's recordings again, with this
                                    build: diff -r DIR/replay OUT must be empty

Run it twice on one build first: what differs between those two is noise that this
normaliser does not know yet."""
import json
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HT = os.path.join(ROOT, "build", "heaptrail")
FIX = os.path.join(ROOT, "build", "fixtures")

FIXTURES = {
    "leaky": [os.path.join(FIX, "leaky"), "/dev/null"],
    "fork_leak": [os.path.join(FIX, "fork_leak"), "/dev/null"],
    "vma_ops": [os.path.join(FIX, "vma_ops"), "7", "300", "/dev/null"],
    "hist_sizes": [os.path.join(FIX, "hist_sizes")],
}
REPORTS = ["trace", "leaks", "hist", "timeline"]

# Values that change from run to run whatever the code does.
TIME_KEYS = {"ts_ns", "lat_ns", "start_ns", "growth_bytes"}
PID_KEYS = {"pid", "tid", "parent", "child_pid", "old_tid"}
# Timing distributions, and counts the kernel's timing decides (rss_stat fires on a
# per-CPU counter flush, page faults depend on what is resident).
NOISY_HISTS = {"alloc_lifetime", "syscall_latency", "alloc_latency"}
NOISY_SERIES = {"rss_anon", "rss_file", "rss_shmem", "rss_swap", "faults"}
NOISY_EVENTS = {"rss", "fault"}


class Normaliser:
    def __init__(self):
        self.pids = {}

    def pid(self, v):
        return "P%d" % self.pids.setdefault(v, len(self.pids))

    def value(self, key, v):
        if key in TIME_KEYS:
            return "T"
        if key in PID_KEYS and isinstance(v, int):
            return self.pid(v)
        return self.walk(v)

    def walk(self, v):
        if isinstance(v, dict):
            if v.get("name") in NOISY_HISTS:
                return {"name": v["name"], "pid": self.value("pid", v.get("pid"))}
            out = {}
            for k, x in v.items():
                if k == "series":
                    x = {n: ([[None, p[1]] for p in s] if n not in NOISY_SERIES else "N")
                         for n, s in x.items()}
                out[k] = self.value(k, x)
            return out
        if isinstance(v, list):
            return [self.walk(x) for x in v]
        return v

    def lines(self, text):
        out = []
        for line in text.splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                out.append(re.sub(r"\d+(\.\d+)? ?(ms|s|ns|MiB|KiB)\b", "N", line))
                continue
            if isinstance(obj, dict) and obj.get("event") in NOISY_EVENTS:
                continue
            out.append(json.dumps(self.walk(obj), sort_keys=True))
        return "\n".join(out) + "\n"


def run(args):
    p = subprocess.run(["setarch", "-R", HT] + args, capture_output=True, text=True, timeout=120)
    return "rc %d\n--- stdout\n%s--- stderr\n%s" % (p.returncode, Normaliser().lines(p.stdout),
                                                   Normaliser().lines(p.stderr))


def replay(recs, out):
    """Every report with -i, and the timeline's SVG, CSV and Perfetto forms, of each
    recording in recs: exact, since the input is the same file."""
    os.makedirs(out, exist_ok=True)
    for name in FIXTURES:
        rec = os.path.join(recs, name + ".htr")
        for rep in REPORTS:
            with open(os.path.join(out, f"{name}.{rep}-i"), "w") as f:
                f.write(run([rep, "--json", "-i", rec]))
        for form in ("svg", "csv", "perfetto"):
            path = os.path.join(out, f"{name}.timeline-i.{form}")
            with open(path + ".status", "w") as f:
                f.write(run(["timeline", "-i", rec, f"--{form}", path]))


def save(out):
    recs = os.path.join(out, "recordings")
    os.makedirs(recs, exist_ok=True)
    for name, cmd in FIXTURES.items():
        target = ["-c", " ".join(cmd)]
        for rep in REPORTS:
            with open(os.path.join(out, f"{name}.{rep}"), "w") as f:
                f.write(run([rep, "--json"] + target))
        rec = os.path.join(recs, name + ".htr")
        with open(os.path.join(out, f"{name}.record"), "w") as f:
            f.write(run(["record", "-o", rec] + target).replace(recs, "RECS"))
    replay(recs, os.path.join(out, "replay"))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "save":
        save(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "replay":
        replay(os.path.join(sys.argv[2], "recordings"), sys.argv[3])
    else:
        sys.exit(__doc__)
