# SPDX-License-Identifier: GPL-2.0-only
"""What needs no kernel: make install (PREFIX, DESTDIR), the manual page it installs (written by
heaptrail --man from the option tables) and the bash completion, against what --help says."""
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMMANDS = ["trace", "leaks", "hist", "timeline", "record", "report", "serve"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    dest = tmp_path_factory.mktemp("dest")
    subprocess.run(["make", "-s", "-C", ROOT, "install", f"DESTDIR={dest}", "PREFIX=/usr"],
                   check=True, capture_output=True)
    return dest / "usr"


def help_options(heaptrail, cmd):
    """The options cmd's --help lists: {spelling: its argument's name or None}."""
    out = subprocess.run([heaptrail, cmd, "--help"], capture_output=True, text=True,
                         check=True).stdout
    opts = {}
    for m in re.finditer(r"^  (?:-(\w), )?\s*--([\w-]+)(?: (\S+))?", out, re.M):
        opts["--" + m[2]] = m[3]
        if m[1]:
            opts["-" + m[1]] = m[3]
    return opts


def test_install_puts_each_file_in_its_place(installed):
    heaptrail = installed / "sbin" / "heaptrail"
    assert os.access(heaptrail, os.X_OK)
    assert subprocess.run([heaptrail, "--version"], capture_output=True, text=True,
                          check=True).stdout.startswith("heaptrail ")
    assert (installed / "share" / "man" / "man8" / "heaptrail.8").is_file()
    assert (installed / "share" / "bash-completion" / "completions" / "heaptrail").is_file()
    # the agent's unit, its ExecStart the installed binary
    unit = (installed / "lib" / "systemd" / "system" / "heaptrail.service").read_text()
    assert re.search(r"^ExecStart=/usr/sbin/heaptrail serve ", unit, re.M), unit


def test_man_page_renders_without_warnings_and_has_every_option(installed):
    page = installed / "share" / "man" / "man8" / "heaptrail.8"
    groff = subprocess.run(["groff", "-man", "-ww", "-z", str(page)], capture_output=True,
                           text=True)
    assert groff.returncode == 0 and groff.stderr == "", groff.stderr
    text = subprocess.run(["man", "-l", str(page)], capture_output=True, text=True, check=True,
                          env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="")).stdout
    # hyphenation and the pager's formatting aside, as a reader sees it
    text = re.sub(r"\u2010\n\s*", "", text)
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "COMMON OPTIONS",
                    "EXIT STATUS", "ENVIRONMENT", "SEE ALSO"]:
        assert re.search(rf"^{section}$", text, re.M), section
    for cmd in COMMANDS:
        assert re.search(rf"^   {cmd}$", text, re.M), cmd
        assert f"heaptrail {cmd} " in text
        for opt in help_options(installed / "sbin" / "heaptrail", cmd):
            assert re.search(rf"(^|[ ,]){re.escape(opt)}\b", text, re.M), (cmd, opt)


def complete(installed, words):
    """What the installed completion offers for the command line words (the last one being
    completed), in plain bash."""
    script = (f"source {installed}/share/bash-completion/completions/heaptrail\n"
              "COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _heaptrail\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    out = subprocess.run(["bash", "-c", script, "bash", str(installed / "sbin" / "heaptrail")]
                         + words, capture_output=True, text=True, check=True)
    assert out.stderr == "", out.stderr
    return [w for w in out.stdout.splitlines() if w]


def test_completion_lists_the_commands(installed):
    assert sorted(complete(installed, [""])) == sorted(COMMANDS + ["--help", "--version",
                                                                  "--man"])
    assert complete(installed, ["ti"]) == ["timeline"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_completion_lists_each_commands_options(installed, cmd):
    opts = help_options(installed / "sbin" / "heaptrail", cmd)
    # every command takes a target, but report, which reads a recording
    assert {"-p", "--pid", "-c", "-a", "-d", "-v"} <= set(opts) if cmd != "report" else \
        {"-i", "--input", "-o", "--output"} == set(opts)
    assert sorted(complete(installed, [cmd, ""])) == sorted(opts)
    assert sorted(complete(installed, [cmd, "--"])) == sorted(o for o in opts
                                                              if o.startswith("--"))


def test_completion_completes_arguments(installed, tmp_path):
    (tmp_path / "profile.pb.gz").write_text("")
    assert complete(installed, ["leaks", "--pprof", str(tmp_path / "prof")]) == \
        [str(tmp_path / "profile.pb.gz")]
    assert complete(installed, ["record", "-o", str(tmp_path / "p")]) == \
        [str(tmp_path / "profile.pb.gz")]
    assert sorted(complete(installed, ["leaks", "--unwind", ""])) == ["auto", "dwarf", "fp"]
    assert str(os.getpid()) in complete(installed, ["leaks", "-p", ""])
    assert "bash" in complete(installed, ["trace", "-c", "bas"])
    assert complete(installed, ["leaks", "--top", ""]) == []
