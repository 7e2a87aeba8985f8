# SPDX-License-Identifier: GPL-2.0-only
"""The command line: every command takes exactly its options, refuses every other one by name
(exit 2, one line), and --help lists what it takes. Nothing here traces: an accepted option
with no target ends in the target check, a refused one before it."""
import re

import pytest

from conftest import run_heaptrail

USAGE = 2
COMMANDS = ["trace", "leaks", "hist", "timeline", "record", "serve"]
ALL = set(COMMANDS)
REPORTS = {"trace", "leaks", "hist", "timeline"}

# option -> (a value or None, the commands that take it): the contract of README's Usage.
OPTIONS = {
    "--pid": ("1", ALL),
    "--command": ("true", ALL),
    "--all": (None, ALL),
    "--duration": ("1", ALL),
    "--verbose": (None, ALL),
    "--lib": ("/lib/x86_64-linux-gnu/libc.so.6", ALL),
    "--ringbuf-size": ("4096", ALL),
    "--probe-at-entry": (None, ALL),
    "--input": ("x.htr", REPORTS),
    "--kernel": (None, {"trace", "leaks", "hist", "record", "serve"}),
    "--kmem-table-size": ("1024", {"trace", "leaks", "hist", "record", "serve"}),
    "--json": (None, REPORTS),
    "--stack-depth": ("8", {"leaks", "hist", "record", "serve"}),
    "--stack-table-size": ("1024", {"leaks", "hist", "record", "serve"}),
    "--unwind": ("fp", {"leaks", "hist", "record", "serve"}),
    "--unwind-table-size": ("4096", {"leaks", "hist", "record", "serve"}),
    "--free-stacks": (None, {"leaks", "record"}),
    "--fault-stream": (None, {"hist", "timeline", "record"}),
    "--sample-bytes": ("64K", {"leaks", "record", "timeline", "hist", "serve"}),
    "--sample-table-size": ("4096", {"leaks", "record", "timeline", "hist", "serve"}),
    "--events": ("alloc", {"trace"}),
    "--top": ("3", {"leaks", "hist"}),
    "--min-age": ("10", {"leaks"}),
    "--interval": ("1", {"leaks"}),
    "--floor": (None, {"leaks"}),
    "--folded": ("x.folded", {"leaks"}),
    "--folded-metric": ("live-allocs", {"leaks"}),
    "--pprof": ("x.pb.gz", {"leaks"}),
    "--by-stack": (None, {"hist"}),
    "--linear": ("64", {"hist"}),
    "--perfetto": ("x.json", {"timeline"}),
    "--csv": ("x.csv", {"timeline"}),
    "--svg": ("x.svg", {"timeline"}),
    "--output": ("x.htr", {"record"}),
    "--listen": ("127.0.0.1:0", {"serve"}),
    "--retain": ("60", {"serve"}),
    "--top-processes": ("5", {"serve"}),
}
SHORT = {"--pid": "-p", "--command": "-c", "--all": "-a", "--duration": "-d", "--verbose": "-v",
         "--input": "-i", "--kernel": "-k", "--json": "-j", "--events": "-e", "--output": "-o"}
TARGETS = {"--pid", "--command", "--all", "--input", "--kernel"}


def one_line(proc):
    lines = proc.stderr.splitlines()
    assert proc.returncode == USAGE, (proc.returncode, proc.stderr)
    assert len(lines) == 1 and lines[0].startswith("heaptrail: "), proc.stderr
    assert proc.stdout == ""
    return lines[0]


SPELLINGS = sorted(OPTIONS) + sorted(SHORT.values())
LONG_OF = {short: opt for opt, short in SHORT.items()}


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("name", SPELLINGS)
def test_each_command_takes_exactly_its_options(cmd, name):
    opt = LONG_OF.get(name, name)
    value, takers = OPTIONS[opt]
    args = [cmd, name] + ([value] if value else [])
    if opt in TARGETS:
        args += ["-p", "1", "-a"]  # more targets: refused after parsing, if taken at all
    if cmd == "serve":
        args += ["--top-processes", "0"]  # serve runs without a target: a bad value ends it
    line = one_line(run_heaptrail(args))
    if cmd in takers:
        assert "does not take" not in line, line
        assert ("exactly one target" in line or "record needs -o" in line
                or "invalid number '0' for --top-processes" in line), line
    else:
        spelled = f"{SHORT[opt]}/{opt}" if opt in SHORT else opt
        assert f"{cmd} does not take {spelled} (" in line, line
        for other in takers:
            assert other in line.split("(")[1], line


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_lists_what_the_command_takes(cmd):
    proc = run_heaptrail([cmd, "--help"])
    assert proc.returncode == 0 and proc.stderr == ""
    listed = {opt for opt in OPTIONS
              if re.search(r"(  |, )" + re.escape(opt) + r"(\s|=|$)", proc.stdout, re.M)}
    assert listed == {opt for opt, (_, takers) in OPTIONS.items() if cmd in takers}
    assert all(len(line) <= 100 for line in proc.stdout.splitlines())


@pytest.mark.parametrize("opt", ["--duration 1", "--ringbuf-size 4096", "--probe-at-entry",
                                 "--kmem-table-size 64", "--stack-table-size 64",
                                 "--free-stacks", "--interval 1", "--floor",
                                 "--sample-bytes 64K", "--sample-table-size 4096"])
def test_live_options_are_refused_with_a_recording(opt):
    for order in (opt.split() + ["-i", "x.htr"], ["-i", "x.htr"] + opt.split()):
        line = one_line(run_heaptrail(["leaks"] + order))
        assert f"{opt.split()[0]} is for a live target, not -i FILE" in line, line


@pytest.mark.parametrize("args,words", [
    (["leaks", "-p"], ["-p needs a value"]),
    (["leaks", "--top"], ["--top needs a value"]),
    (["leaks", "--bogus", "-a"], ["unknown option '--bogus'"]),
    (["leaks", "-x", "-a"], ["unknown option '-x'"]),
    (["leaks", "--top", "0", "-a"], ["invalid number '0' for --top"]),
    (["hist", "--linear", "-5", "-a"], ["invalid --linear '-5'"]),
    (["leaks", "--interval", "0", "-a"], ["invalid --interval '0'"]),
    (["leaks", "--folded-metric", "peak", "-a"], ["--folded-metric 'peak'"]),
    (["record", "-c", "true"], ["record needs -o FILE"]),
    (["timeline", "-a", "extra"], ["unexpected argument 'extra'"]),
])
def test_bad_values(args, words):
    line = one_line(run_heaptrail(args))
    for w in words:
        assert w in line, line


def test_global_help_and_version():
    proc = run_heaptrail(["--help"])
    assert proc.returncode == 0
    for cmd in COMMANDS:
        assert f"  {cmd} " in proc.stdout
    proc = run_heaptrail(["--version"])
    assert proc.returncode == 0 and proc.stdout.startswith("heaptrail ")
