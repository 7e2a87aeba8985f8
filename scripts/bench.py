#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench: every workload in tests/bench untraced, under heaptrail leaks (exact, and
sampled with --sample-bytes 512K), under leaks --probe-at-entry, under heaptrack, and under the floor (the same probes, counting hits only),
side by side in one run, medians of several rounds. Prints one table to paste into an issue."""
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HT = os.path.join(ROOT, "build", "heaptrail")
BENCH = os.path.join(ROOT, "build", "bench")
RUNS = int(os.environ.get("BENCH_RUNS", "3"))

WORKLOADS = [
    ("churn", ["churn", "1000000"]),
    ("realloc_growth", ["realloc_growth", "20000"]),
    ("mmap_churn", ["mmap_churn", "200000"]),
    ("faults", ["faults", "1024"]),
    ("churn_2threads", ["churn", "1000000", "2"]),
    # the stacks issue's workload: 32 frames of code without frame pointers
    ("deep_churn", ["deep_churn", "300000"]),
]


def heaptrail(*opts):
    return lambda cmd, tmp: [HT, "leaks", "--top", "3", *opts, "-c", shlex.join(cmd)]


LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6"


def bpftrace(cmd, tmp):
    """Debian's bpftrace counting calls of the allocator functions churn and realloc_growth
    make, each probe at the function's entry, for the target alone (-c)."""
    probes = ",".join(f"uprobe:{LIBC}:{fn}" for fn in ("malloc", "free", "realloc", "calloc"))
    return ["bpftrace", "-e", probes + " { @[probe] = count(); }", "-c", shlex.join(cmd)]


CONFIGS = [
    ("untraced", lambda cmd, tmp: cmd),
    ("floor", heaptrail("--floor")),
    ("leaks", heaptrail()),  # prints its own peak RSS on stderr
    ("record", lambda cmd, tmp: [HT, "record", "-o", os.path.join(tmp, "r.htr"), "-c",
                                 shlex.join(cmd)]),
    ("sampled 512K", heaptrail("--sample-bytes", "512K")),
    ("at-entry", heaptrail("--probe-at-entry")),
    # heaptrack's default: its interpreter runs beside the program, as a user runs it
    ("heaptrack", lambda cmd, tmp: ["heaptrack", "-o", os.path.join(tmp, "ht"), *cmd]),
    ("heaptrack --raw", lambda cmd, tmp: ["heaptrack", "--raw", "-o",
                                          os.path.join(tmp, "htr"), *cmd]),
    ("bpftrace", bpftrace),
]


def run(argv):
    """Runs one measurement; returns (ns per op, heaptrail's peak RSS in KiB or 0, output).
    (heaptrail reports its own: /usr/bin/time's ru_maxrss would include the workload's.)"""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    m = re.search(r"^bench \S+ ops=\d+ ns=\d+ ns_per_op=([\d.]+)", out, re.M)
    if proc.returncode != 0 or not m:
        sys.exit(f"bench: {shlex.join(argv)} failed ({proc.returncode}):\n{out[-2000:]}")
    peak = re.search(r"peak RSS (\d+) KiB", out)
    return float(m.group(1)), int(peak.group(1)) if peak else 0, out


REPLAY_RECORDS = 20_000_000


def replay(tmp):
    """Replay throughput: a synthetic recording of malloc/free records through leaks -i."""
    path = os.path.join(tmp, "replay.htr")
    subprocess.run([os.path.join(BENCH, "gen_recording"), path, str(REPLAY_RECORDS)], check=True)
    times, peaks = [], []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        proc = subprocess.run([HT, "leaks", "--top", "1", "-i", path], capture_output=True,
                              text=True, timeout=600)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            sys.exit(f"bench: replay failed:\n{proc.stderr}")
        peaks.append(int(re.search(r"peak RSS (\d+) KiB", proc.stderr).group(1)))
    size = os.path.getsize(path)
    os.unlink(path)
    return statistics.median(times), max(peaks), size


def lost_events(out):
    m = re.search(r"^lost: (.*)$", out, re.M)
    return sum(int(v) for v in re.findall(r"=(\d+)", m.group(1))) if m else None


# BENCH_PASSES=busy,forks runs only those passes (all by default).
PASSES = [p for p in os.environ.get("BENCH_PASSES", "").split(",") if p]


def wanted(name):
    return not PASSES or name in PASSES


def main():
    if wanted("workloads"):
        workloads()
    for name, fn in (("faults", fault_batching), ("forks", forks), ("bystanders", bystanders),
                     ("busy", busy_system), ("forker", forker_memory), ("unwind", unwind),
                     ("html", html_page)):
        if wanted(name):
            fn()


def workloads():
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv in WORKLOADS:
            cmd = [os.path.join(BENCH, argv[0])] + argv[1:]
            samples = {c: [] for c, _ in CONFIGS}
            rss, lost = [], []
            # Round-robin: every configuration once per round, so drift hits them alike.
            for r in range(RUNS):
                for cname, make in CONFIGS:
                    ns, peak, out = run(make(cmd, tmp))
                    samples[cname].append(ns)
                    if cname == "leaks":
                        rss.append(peak)
                        lost.append(lost_events(out))
                print(f"bench: {name} round {r + 1}/{RUNS} done", file=sys.stderr)
            med = {c: statistics.median(v) for c, v in samples.items()}
            rows.append((name, med, max(rss), lost))
        seconds, peak, size = replay(tmp)
    print_table(rows)
    print(f"Replay: {REPLAY_RECORDS:,} malloc/free records ({size / 2**20:.0f} MiB on disk) "
          f"through leaks -i in {seconds:.2f} s (median of {RUNS}, start-up included): "
          f"{REPLAY_RECORDS / seconds / 1e6:.1f} M records/s on one core, peak RSS "
          f"{peak // 1024} MiB.")


HTML_STACKS = 5000


def html_page():
    """The HTML page of a 20 M-record recording (5,000 stacks of 16 frames): how long heaptrail
    report takes to write it, its size, and how long headless Chromium takes to draw it (from
    navigation to the page's own "heaptrail-drawn" mark), medians."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    with tempfile.TemporaryDirectory() as tmp:
        rec, page = os.path.join(tmp, "r.htr"), os.path.join(tmp, "r.html")
        subprocess.run([os.path.join(BENCH, "gen_recording"), rec, str(REPLAY_RECORDS),
                        str(HTML_STACKS)], check=True)
        writes = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            subprocess.run([HT, "report", "-i", rec, "-o", page], check=True,
                           capture_output=True, timeout=600)
            writes.append(time.perf_counter() - t0)
        opts = webdriver.ChromeOptions()
        opts.binary_location = "/usr/bin/chromium"
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1400,1000",
                    f"--user-data-dir={os.path.join(tmp, 'chromium')}"]:
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        loads = []
        try:
            for _ in range(RUNS):
                driver.get("about:blank")
                driver.get(f"file://{page}")
                loads.append(driver.execute_script(
                    "return performance.getEntriesByName('heaptrail-drawn')[0].startTime") / 1e3)
        finally:
            driver.quit()
        size = os.path.getsize(page)
    print(f"HTML page: {REPLAY_RECORDS:,} records, {HTML_STACKS:,} stacks of 16 frames: "
          f"heaptrail report writes it in {statistics.median(writes):.2f} s, "
          f"{size / 2**20:.1f} MiB, headless Chromium draws it in "
          f"{statistics.median(loads):.2f} s (medians of {RUNS}).")


UNWIND_WORKLOADS = [
    ("churn", ["churn", "1000000"]),
    ("deep_churn (32 frames)", ["deep_churn", "1000000", "32"]),
]


def leaks_verbose(*opts):
    return lambda cmd: [HT, "leaks", "-v", "--top", "3", *opts, "-c", shlex.join(cmd)]


# BENCH_BASELINE=path/to/an/older/heaptrail adds it (its plain leaks) to the unwind pass: the
# frame-pointer walk must not get slower than it was.
BASELINE = os.environ.get("BENCH_BASELINE")

UNWIND_CONFIGS = [
    ("untraced", lambda cmd: cmd),
] + ([("baseline", lambda cmd: [BASELINE, "leaks", "-v", "--top", "3", "-c", shlex.join(cmd)])]
     if BASELINE else []) + [
    ("fp", leaks_verbose("--unwind", "fp")),
    ("dwarf", leaks_verbose("--unwind", "dwarf")),
    ("auto", leaks_verbose()),
    ("heaptrack", lambda cmd: ["heaptrack", "--raw", "-o",
                               os.path.join(tempfile.gettempdir(), "heaptrail-bench-ht"), *cmd]),
]


def unwind():
    """Stack walks (issue 14): the workloads, built -O2 (no frame pointers), under each
    --unwind mode, beside untraced and heaptrack, interleaved, medians; with ring-buffer bytes
    per allocation and the unwind table's rows, from -v."""
    print()
    print("| workload | untraced | " + ("baseline | " if BASELINE else "") +
          "--unwind fp | dwarf | auto | heaptrack | dwarf/fp | ring bytes per op, fp / dwarf "
          "| table rows (KiB) |")
    print("|---|---:|" + ("---:|" if BASELINE else "") + "---:|---:|---:|---:|---:|---:|---:|")
    for name, argv in UNWIND_WORKLOADS:
        cmd = [os.path.join(BENCH, argv[0])] + argv[1:]
        samples = {c: [] for c, _ in UNWIND_CONFIGS}
        outs = {}
        for _ in range(max(RUNS, 5)):
            for cname, make in UNWIND_CONFIGS:
                ns, _, out = run(make(cmd))
                samples[cname].append(ns)
                outs[cname] = out
        med = {c: statistics.median(v) for c, v in samples.items()}
        ops = int(re.search(r"^bench \S+ ops=(\d+)", outs["untraced"], re.M).group(1))

        def ring(c):
            m = re.search(r"ring buffer: \d+ records, (\d+) bytes", outs[c])
            return int(m.group(1)) / ops if m else float("nan")

        rows = re.search(r"unwind tables: (\d+) rows for \d+ modules \((\d+) KiB\)",
                         outs["dwarf"])
        base = f"{med['baseline']:.0f} | " if BASELINE else ""
        print(f"| {name} | {med['untraced']:.0f} | {base}{med['fp']:.0f} | {med['dwarf']:.0f} | "
              f"{med['auto']:.0f} | {med['heaptrack']:.0f} | {ratio(med['dwarf'], med['fp'])} | "
              f"{ring('fp'):.1f} / {ring('dwarf'):.1f} | "
              f"{rows.group(1) if rows else '?'} ({rows.group(2) if rows else '?'}) |")
    print()
    print("ns per operation of the workload's measured loop (a malloc or a free), median of "
          f"{max(RUNS, 5)}. Every allocation is walked; a stack goes through the ring buffer "
          "once per distinct id.")


FORK_CONFIGS = [
    ("untraced", lambda cmd: cmd),
    ("trace -e alloc", lambda cmd: [HT, "trace", "-e", "alloc", "-c", shlex.join(cmd)]),
    ("leaks", lambda cmd: [HT, "leaks", "-c", shlex.join(cmd)]),
    ("record", lambda cmd: [HT, "record", "-o", os.path.join(tempfile.gettempdir(),
                                                             "heaptrail-bench-forks.ht"),
                            "-c", shlex.join(cmd)]),
]


def forks():
    """fork + exec + exit of /bin/true, 200 times, untraced and traced (issue 13: traced at
    most 5x untraced), interleaved, medians."""
    med = interleaved(FORK_CONFIGS, [os.path.join(BENCH, "forks"), "200", "/bin/true"])
    base = med["untraced"]
    print()
    print(f"fork + exec + exit of /bin/true, 200 times (median of {max(RUNS, 5)}; target: "
          f"traced <= 5x untraced): " +
          ", ".join(f"{c} {v / 1000:.0f} us each ({ratio(v, base)}x)" for c, v in med.items())
          + ".")


def wait_for_guards():
    """After a signal heaptrail leaves the detach of its programs to its guard: the next
    measurement waits for it, or it would pay for probes that are on their way out."""
    def guards():
        found = []
        for d in os.listdir("/proc"):
            try:
                if d.isdigit() and open(f"/proc/{d}/comm").read().strip() == "heaptrail-guard":
                    found.append(d)
            except OSError:
                pass
        return found
    deadline = time.monotonic() + 60
    while guards() and time.monotonic() < deadline:
        time.sleep(0.05)


def bystanders():
    """What a process that is not a target pays while heaptrail traces another one: churn
    alone, beside leaks -p of an idle process (uprobes bound to it), and beside leaks -p of a
    process that forked (uprobes shared by every process that maps libc since), interleaved,
    medians."""
    cmd = [os.path.join(BENCH, "churn"), "200000"]
    targets = {"beside leaks -p": ["sleep", "600"],
               "beside leaks -p of a forker": ["/bin/sh", "-c", "sleep 2; /bin/true; exec sleep 600"]}
    samples = {"alone": [], **{k: [] for k in targets}}
    for r in range(max(RUNS, 5)):
        samples["alone"].append(run(cmd)[0])
        for name, argv in targets.items():
            target = subprocess.Popen(argv)
            ht = subprocess.Popen([HT, "leaks", "-p", str(target.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            # the banner comes once everything is attached; the forker forks 2 s in
            while "heaptrail: tracing" not in ht.stderr.readline():
                pass
            time.sleep(2.5)
            samples[name].append(run(cmd)[0])
            ht.terminate()
            ht.communicate(timeout=60)
            target.kill()
            target.wait()
            wait_for_guards()
    med = {c: statistics.median(v) for c, v in samples.items()}
    print()
    print(f"A bystander (churn 200000, not a target) while heaptrail traces another process, "
          f"median of {max(RUNS, 5)}: " +
          ", ".join(f"{c} {v:.0f} ns/op ({ratio(v, med['alone'])}x)" for c, v in med.items())
          + ".")


BUSY_SECONDS = int(os.environ.get("BENCH_BUSY_SECONDS", "60"))
# A busy machine: compiles (gcc -O2 of a bench source), each a few short-lived processes, one
# loop per CPU, and a shell pipeline loop (sh, cat, sort, wc).
BUSY_LOOP = ("while :; do gcc -O2 -c {src} -o {tmp}/o$$.o && echo c >> {tmp}/n$$; "
             "cat /etc/services | sort | wc -l > /dev/null; done")


def busy_run(seconds, traced, tmp):
    """Runs the busy loops for seconds, alone or beside leaks -a -d seconds -v; returns
    (loops done, heaptrail's stderr or '')."""
    for f in os.listdir(tmp):
        os.unlink(os.path.join(tmp, f))
    ht = None
    report = tempfile.TemporaryFile("w+")
    if traced:
        ht = subprocess.Popen([HT, "leaks", "-a", "-v", "--top", "3", "-d", str(seconds)],
                              stdout=report, stderr=subprocess.PIPE, text=True)
        while "heaptrail: tracing" not in ht.stderr.readline():
            pass
    src = os.path.join(ROOT, "tests", "bench", "churn.c")
    loops = [subprocess.Popen(["/bin/sh", "-c", BUSY_LOOP.format(src=src, tmp=tmp)],
                              start_new_session=True) for _ in range(os.cpu_count())]
    time.sleep(seconds)
    for p in loops:
        os.killpg(p.pid, 9)
        p.wait()
    done = sum(len(open(os.path.join(tmp, f)).read().split())
               for f in os.listdir(tmp) if f.startswith("n"))
    err, procs = "", 0
    if ht:
        err = ht.communicate(timeout=300)[1]
        if ht.returncode != 0:
            sys.exit(f"bench: leaks -a failed ({ht.returncode}):\n{err[-2000:]}")
        wait_for_guards()
        report.seek(0)
        procs = len(re.findall(r"^pid \d+ ", report.read(), re.M))
    return done, err, procs


def busy_system():
    """Issue 15: leaks -a -d 60 beside a busy machine: heaptrail's peak RSS (target < 300 MB),
    its own CPU, and how much the workload slowed, alone and traced interleaved, medians."""
    alone, traced, rss, cpu, seen = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(max(RUNS // 3, 1)):
            alone.append(busy_run(BUSY_SECONDS, False, tmp)[0])
            done, err, procs = busy_run(BUSY_SECONDS, True, tmp)
            traced.append(done)
            m = re.search(r"own cost: ([\d.]+) s user and ([\d.]+) s system CPU.*peak RSS (\d+) KiB",
                          err)
            rss.append(int(m.group(3)))
            cpu.append(float(m.group(1)) + float(m.group(2)))
            seen.append(procs)
            print(f"bench: busy round {r + 1} done", file=sys.stderr)
    a, t = statistics.median(alone), statistics.median(traced)
    print()
    print(f"leaks -a -d {BUSY_SECONDS} beside a busy machine ({os.cpu_count()} compile loops), "
          f"median of {len(alone)}: the loops ran {t:.0f} times traced against {a:.0f} alone "
          f"({t / a:.2f}x); heaptrail's peak RSS {statistics.median(rss) / 1024:.0f} MiB "
          f"(max {max(rss) / 1024:.0f}; target < 300 MB), its own CPU "
          f"{statistics.median(cpu):.1f} s over {BUSY_SECONDS} s; processes in the report "
          f"{max(seen)}.")


FORKER_CHILDREN = 1000


def forker_memory():
    """Issue 15: a parent forking 1,000 short-lived children 5 ms apart (each mallocs 50 times
    and leaks 3), under leaks -c and leaks -p: heaptrail's peak RSS (target < 200 MB; before:
    13-17 MB a child) and how often it stopped a target, against the forker alone, interleaved,
    medians."""
    forker = os.path.join(ROOT, "build", "fixtures", "forker")
    argv = [forker, str(FORKER_CHILDREN), "5"]
    took = {"alone": [], "leaks -c": [], "leaks -p": []}
    rss = {"leaks -c": [], "leaks -p": []}
    holds = {"leaks -c": [], "leaks -p": []}

    def traced(name, err):
        m = re.search(r"peak RSS (\d+) KiB", err)
        h = re.search(r"targets were stopped (\d+) times", err)
        if not m or not h:
            sys.exit(f"bench: {name} of the forker printed no cost:\n{err[-2000:]}")
        rss[name].append(int(m.group(1)))
        holds[name].append(int(h.group(1)))

    for r in range(max(RUNS, 3)):
        t0 = time.monotonic()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        took["alone"].append(time.monotonic() - t0)
        t0 = time.monotonic()
        proc = subprocess.run([HT, "leaks", "-v", "--top", "3", "-c", shlex.join(argv)],
                              capture_output=True, text=True, timeout=600)
        took["leaks -c"].append(time.monotonic() - t0)
        if proc.returncode != 0:
            sys.exit(f"bench: leaks -c of the forker failed:\n{proc.stderr[-2000:]}")
        traced("leaks -c", proc.stderr)
        target = subprocess.Popen(argv + ["-", "wait"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        target.stdout.readline()  # ready
        ht = subprocess.Popen([HT, "leaks", "-v", "--top", "3", "-p", str(target.pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while "heaptrail: tracing" not in ht.stderr.readline():
            pass
        t0 = time.monotonic()
        target.stdin.write("go\n")
        target.stdin.flush()
        target.wait(timeout=600)
        took["leaks -p"].append(time.monotonic() - t0)
        err = ht.communicate(timeout=600)[1]
        if ht.returncode != 0:
            sys.exit(f"bench: leaks -p of the forker failed:\n{err[-2000:]}")
        traced("leaks -p", err)
        wait_for_guards()
    med = {k: statistics.median(v) for k, v in took.items()}
    print()
    print(f"A forker of {FORKER_CHILDREN} children, 5 ms apart (median of {max(RUNS, 3)}; "
          f"target: heaptrail's peak RSS < 200 MB): " +
          "; ".join(f"{k} {med[k]:.2f} s ({ratio(med[k], med['alone'])}x alone), "
                    f"peak RSS {statistics.median(rss[k]) / 1024:.0f} MiB "
                    f"(max {max(rss[k]) / 1024:.0f}), targets stopped "
                    f"{statistics.median(holds[k]):.0f} times"
                    for k in rss) + f"; alone {med['alone']:.2f} s.")


FAULT_CONFIGS = [
    ("untraced", lambda cmd: cmd),
    ("timeline", lambda cmd: [HT, "timeline", "--json", "-c", shlex.join(cmd)]),
    ("timeline --fault-stream",
     lambda cmd: [HT, "timeline", "--json", "--fault-stream", "-c", shlex.join(cmd)]),
]


def fault_batching():
    """The page-fault pass under timeline: faults batched in BPF (the default) against one
    ring-buffer record per fault, interleaved, medians."""
    med = interleaved(FAULT_CONFIGS, [os.path.join(BENCH, "faults"), "1024"])
    base = med["untraced"]
    print()
    print(f"Page faults under timeline (faults 1024: 262,144 first touches), median of "
          f"{max(RUNS, 5)}: " + ", ".join(f"{c} {v:.0f} ns/fault ({ratio(v, base)}x)"
                                          for c, v in med.items()) + ".")


def interleaved(configs, cmd):
    """cmd under each configuration once per round, at least five rounds: the median ns per
    operation of each."""
    samples = {c: [] for c, _ in configs}
    for r in range(max(RUNS, 5)):
        for cname, make in configs:
            samples[cname].append(run(make(cmd))[0])
    return {c: statistics.median(v) for c, v in samples.items()}


def ratio(a, b):
    return f"{a / b:.2f}" if b > 0 else "-"


def print_table(rows):
    kernel = os.uname().release
    print(f"heaptrail bench: kernel {kernel}, {os.cpu_count()} CPUs, median of {RUNS} runs per "
          "configuration, interleaved; ns per operation of each workload's own measured loop")
    print()
    print("| workload | " + " | ".join(c for c, _ in CONFIGS) + " | leaks/untraced "
          "| leaks added / floor added | record added / floor added "
          "| sampled added / floor added | at-entry added / leaks added | leaks peak RSS "
          "| lost |")
    print("|---|" + "---:|" * (len(CONFIGS) + 7))
    for name, m, rss, lost in rows:
        base = m["untraced"]
        added = {c: m[c] - base for c in m}
        print(f"| {name} | " + " | ".join(f"{m[c]:.0f}" for c, _ in CONFIGS) +
              f" | {ratio(m['leaks'], base)} | "
              f"{ratio(added['leaks'], added['floor'])} | "
              f"{ratio(added['record'], added['floor'])} | "
              f"{ratio(added['sampled 512K'], added['floor'])} | "
              f"{ratio(added['at-entry'], added['leaks'])} | {rss // 1024} MiB | "
              f"{max(l for l in lost if l is not None) if any(l is not None for l in lost) else '?'} |")
    print()
    print("Targets on malloc/free churn: leaks and record added <= 1.3 x floor added; sampled "
          "(--sample-bytes 512K) added <= 1.1 x floor added and below heaptrack; at-entry "
          "added >= 10 x leaks added. Replay target: 10 M records/s.")


if __name__ == "__main__":
    main()
