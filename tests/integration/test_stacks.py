# SPDX-License-Identifier: GPL-2.0-only
"""Stacks and names as the program had them: a frame-pointer walk through code without frame
pointers reads other data as frames, which are cut, never shown; names come from the file the
process mapped (in its own mount namespace too) or from debuginfod; a process in a pid
namespace shows the pid it has there."""
import contextlib
import json
import os
import pathlib
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import HEAPTRAIL, fixture_path, needs_bpf_loop, run_heaptrail, without_bpf_loop


def leaks_json(args):
    proc = run_heaptrail(["leaks", "--json"] + args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1]), proc


def test_bad_frame_pointers_are_cut_not_invented():
    """rbp at a string's bytes, and at a pointer to a function's first byte (no call before
    it): before, the report showed "0x2f656c61636f6c2f ?? [anon]" and "frame_dummy+0x9"."""
    rep, _ = leaks_json(["-c", fixture_path("bad_frames")])
    (p,) = [p for p in rep["processes"] if p["comm"] == "bad_frames"]
    stacks = {s["bytes"]: s for s in p["stacks"]}
    assert set(stacks) == {2 * 4242, 1313}, p["stacks"]
    # the two calls differ only in their garbage: one call path, summed as one
    bad = stacks[2 * 4242]
    assert bad["allocs"] == 2 and bad.get("cut") is True, bad
    assert [f["sym"] for f in bad["frames"]] == ["bad_caller"], bad
    good = stacks[1313]
    assert "cut" not in good, good
    assert [f["sym"] for f in good["frames"]][:2] == ["good_caller", "main"], good
    text = run_heaptrail(["leaks", "-c", fixture_path("bad_frames")])
    assert text.returncode == 0, text.stderr
    assert "2f656c61636f6c2f" not in text.stdout and "frame_dummy" not in text.stdout
    assert "(cut: the next frame is not a return address" in text.stdout, text.stdout
    # hist --by-stack merges them the same way
    proc = run_heaptrail(["hist", "--json", "--by-stack", "-c", fixture_path("bad_frames")])
    assert proc.returncode == 0, proc.stderr
    hists = [h for line in proc.stdout.splitlines() if line.startswith("{")
             for h in json.loads(line).get("histograms", [])
             if h["comm"] == "bad_frames" and h.get("frames")]
    bad = [h for h in hists if [f["sym"] for f in h["frames"]] == ["bad_caller"]]
    assert len(bad) == 1 and bad[0]["total"] == 2 and bad[0].get("cut") is True, hists


@pytest.mark.parametrize("unwind", ["fp", "auto"])
def test_sort_without_frame_pointers(tmp_path, unwind):
    """Debian's sort and libc are built without frame pointers. Their frame-pointer walk used
    to go on with frames such as 0x2f656c61636f6c2f ("/locale/") and 0x0, shown as [anon]; those
    are cut now. With call-frame information (auto, the default) every stack is whole: the
    locale's allocations go _nl_load_locale <- _nl_find_locale <- setlocale <- sort's main <-
    __libc_start_call_main <- __libc_start_main <- sort's _start, as heaptrack shows them."""
    if unwind != "fp":
        needs_bpf_loop()
    src = tmp_path / "in.txt"
    src.write_text("".join(f"{(i * 7919) % 10007}\n" for i in range(20000)))
    # a locale read from files, wherever the tests run (the guests have no LANG)
    rep, proc = leaks_json(["-v", "--unwind", unwind, "-c",
                            f"env LC_ALL=C.UTF-8 sort {src} -o {tmp_path / 'out.txt'}"])
    (p,) = [p for p in rep["processes"] if p["comm"] == "sort"]
    assert p["stacks"], p
    cut = 0
    for s in p["stacks"]:
        for f in s["frames"]:
            # every frame is in a file the process mapped: sort itself or a library
            assert f["module"].startswith("/"), s
            assert int(f["addr"], 16) > 0x1000, s
        cut += bool(s.get("cut"))
    sort = shutil.which("sort")
    if unwind == "fp":
        # the walk does leave the code in this program: the check is not vacuous
        assert cut > 0, p["stacks"]
        return
    assert re.search(r"unwind: \S*/sort: \d+ rows from \.eh_frame", proc.stderr), proc.stderr
    assert cut == 0, [s for s in p["stacks"] if s.get("cut")]
    locale = [s for s in p["stacks"] if s["frames"][0]["sym"] == "_nl_intern_locale_data"]
    assert locale, p["stacks"]
    for s in locale:
        names = [f["sym"] for f in s["frames"] if not f.get("inlined")]
        at = names.index("setlocale")
        assert names[:at + 1][-3:] == ["_nl_load_locale", "_nl_find_locale", "setlocale"], names
        # sort is stripped: its main and _start have no name, only their module
        tail = [(f["sym"], os.path.realpath(f["module"])) for f in s["frames"][at + 1:]]
        assert [m for _, m in tail] == [os.path.realpath(sort)] + [tail[1][1]] * 2 + \
            [os.path.realpath(sort)], tail
        assert [n for n, _ in tail][1:3] == ["__libc_start_call_main",
                                              "__libc_start_main@@GLIBC_2.34"], tail


def deep_truth(path, size):
    """The fixture's own stack at its allocation of size bytes (libgcc's unwinder), without the
    end marker it reports past _start."""
    frames = [t["addr"] for t in map(json.loads, open(path))
              if t["event"] == "frame" and t["bytes"] == size]
    while frames and int(frames[-1], 16) == 0:
        frames.pop()
    return frames


@pytest.mark.parametrize("unwind", ["auto", "dwarf"])
@pytest.mark.parametrize("fixture", ["deep_nofp", "deep_fp"])
def test_deep_stacks_without_frame_pointers_equal_the_program_own(tmp_path, fixture, unwind):
    """deep_nofp, built -O2 -fomit-frame-pointer, leaks at 5, 20 and 60 levels of recursion, every
    fourth one through a library built with frame pointers; deep_fp is the same the other way
    round (its own code with frame pointers, the library without). Each records its stack at
    each allocation with libgcc's unwinder. heaptrail's frames equal those, frame for frame (the
    first, the allocator's caller, is two calls apart in the same function)."""
    needs_bpf_loop()
    truth = tmp_path / "t.jsonl"
    rep, proc = leaks_json(["-v", "--unwind", unwind, "-c",
                            f"{fixture_path(fixture)} {truth}"])
    (p,) = [p for p in rep["processes"] if p["comm"] == fixture]
    for module in (fixture, "libdeep_" + ("fp" if fixture == "deep_nofp" else "nofp") + ".so"):
        assert re.search(rf"unwind: \S*/{module}: \d+ rows from \.eh_frame; frame pointers in "
                         rf"\d+% of its code", proc.stderr), (module, proc.stderr)
    assert re.search(r"unwind: pid \d+: call-frame information", proc.stderr), proc.stderr
    for depth in (5, 20, 60):
        want = deep_truth(truth, 1000 + depth)
        (s,) = [s for s in p["stacks"] if s["bytes"] == 1000 + depth]
        got = [f["addr"] for f in s["frames"] if not f.get("inlined")]
        assert got[1:] == want[1:] and len(got) > depth, (depth, got, want)
        assert s["frames"][0]["sym"] == "deep_leaf" and not s.get("cut"), s
        assert [f["sym"] for f in s["frames"]][-3:-1] == ["__libc_start_call_main",
                                                          "__libc_start_main@@GLIBC_2.34"], s


def test_deep_stacks_from_a_recording(tmp_path):
    """The walk happens while recording: a recording replays the same whole stacks."""
    needs_bpf_loop()
    truth = tmp_path / "t.jsonl"
    rec = tmp_path / "deep.ht"
    proc = run_heaptrail(["record", "--unwind", "auto", "-o", str(rec), "-c",
                          f"{fixture_path('deep_nofp')} {truth}"])
    assert proc.returncode == 0, proc.stderr
    rep, _ = leaks_json(["-i", str(rec)])
    (p,) = [p for p in rep["processes"] if p["comm"] == "deep_nofp"]
    for depth in (5, 20, 60):
        (s,) = [s for s in p["stacks"] if s["bytes"] == 1000 + depth]
        got = [f["addr"] for f in s["frames"] if not f.get("inlined")]
        assert got[1:] == deep_truth(truth, 1000 + depth)[1:], (depth, s)


def test_deep_stacks_stop_at_the_depth_limit_and_say_so(tmp_path):
    needs_bpf_loop()
    truth = tmp_path / "t.jsonl"
    rep, _ = leaks_json(["--unwind", "auto", "--stack-depth", "20", "-c",
                         f"{fixture_path('deep_nofp')} {truth}"])
    (p,) = [p for p in rep["processes"] if p["comm"] == "deep_nofp"]
    # the leaks at 20 and 60 levels show the same first 20 frames: one group
    (s,) = [s for s in p["stacks"] if s["bytes"] == 1020 + 1060]
    got = [f["addr"] for f in s["frames"] if not f.get("inlined")]
    assert len(got) == 20 and s.get("truncated") and s["allocs"] == 2, s
    assert got[1:] == deep_truth(truth, 1060)[1:20] == deep_truth(truth, 1020)[1:20], s


def test_frame_pointer_walk_cannot_follow_deep_nofp(tmp_path):
    """The comparison the test above needs: without the tables the same stacks are cut."""
    truth = tmp_path / "t.jsonl"
    rep, _ = leaks_json(["--unwind", "fp", "-c", f"{fixture_path('deep_nofp')} {truth}"])
    (p,) = [p for p in rep["processes"] if p["comm"] == "deep_nofp"]
    for depth in (5, 20, 60):
        (s,) = [s for s in p["stacks"] if s["bytes"] == 1000 + depth]
        assert len(s["frames"]) < len(deep_truth(truth, 1000 + depth)), s


def elf_functions(path, cache={}):
    """name -> address of the functions of an ELF file and of its debug file (by build-id):
    glibc names one function several ways (setlocale, __GI_setlocale), heaptrack and heaptrail
    may pick different ones."""
    path = os.path.realpath(path)
    if path not in cache:
        files = [path]
        note = subprocess.run(["readelf", "-n", path], capture_output=True, text=True).stdout
        m = re.search(r"Build ID: ([0-9a-f]+)", note)
        if m and os.path.exists(f"/usr/lib/debug/.build-id/{m[1][:2]}/{m[1][2:]}.debug"):
            files.append(f"/usr/lib/debug/.build-id/{m[1][:2]}/{m[1][2:]}.debug")
        names = {}
        for f in files:
            out = subprocess.run(["readelf", "-Ws", "--wide", f], capture_output=True,
                                 text=True).stdout
            for cols in (line.split() for line in out.splitlines()):
                if len(cols) >= 8 and cols[3] in ("FUNC", "IFUNC") and int(cols[1], 16):
                    names.setdefault(cols[7].split("@")[0], int(cols[1], 16))
        cache[path] = names
    return cache[path]


def heaptrack_leaks(data):
    """heaptrack's leaked stacks in its recording data, {frame names, innermost first: bytes},
    from its flame graph of leaked bytes (exact, where its text report rounds)."""
    flame = data.parent / "flame.txt"
    subprocess.run(["heaptrack_print", "-f", str(data), "-p", "0", "-a", "0", "-T", "0", "-l", "0",
                    "-F", str(flame), "--flamegraph-cost-type", "leaked"], check=True,
                   capture_output=True, timeout=600)
    stacks = {}
    for line in flame.read_text().splitlines():
        frames, cost = line.rsplit(" ", 1)
        if int(cost):
            names = tuple(reversed([f.split(" (")[0] for f in frames.split(";") if f]))
            stacks[names] = stacks.get(names, 0) + int(cost)
    return stacks


def same_function(h, ours):
    """heaptrack's frame h and ours: one function, whatever name each chose (a symbol alias, a
    GCC clone's .part.0), or, without a name, the same address within its page (heaptrack shows
    the call, one byte before the return address; load addresses differ by whole pages)."""
    name = re.sub(r"\.(part|isra|constprop|cold)(\.\d+)?$", "", (ours["sym"] or "").split("@")[0])
    if h.startswith("0x"):
        return not name and (int(h, 16) + 1) & 0xfff == int(ours["addr"], 16) & 0xfff
    funcs = elf_functions(ours["module"])
    return h == name or (name in funcs and funcs.get(h) == funcs[name])


def flame_order(frames):
    """Our frames in heaptrack's flame-graph order: each address's inlined calls after the
    function that holds them, not before."""
    out, group = [], []
    for f in frames:
        group.append(f)
        if not f.get("inlined"):
            out += reversed(group)
            group = []
    return out + group


# heaptrack keeps 62 frames of a stack; a deeper one matches on those
HEAPTRACK_DEPTH = 62


def under_heaptrack(stacks):
    """Our stacks of a process heaptrack ran, as heaptrack shows them: its malloc (in its
    preloaded library) calls libc's, so our walks begin with that one frame, which heaptrack
    leaves out. Walks with more of its frames are its own allocations (its trace tree, its
    thread), which it does not report."""
    def preload(f):
        return "libheaptrack_preload" in (f["module"] or "")
    out = []
    for s in stacks:
        frames = flame_order(s["frames"])
        if len(frames) >= 2 and preload(frames[0]) and not preload(frames[1]):
            out.append(dict(s, frames=frames[1:]))
    return out


# Both runs see the same environment, whatever the caller's (setlocale's allocations follow
# LC_ALL) and without address randomization
HEAPTRACK_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/", "LC_ALL": "C.UTF-8"}


@pytest.mark.parametrize("program", ["sort", "python3"])
def test_leak_stacks_equal_heaptrack(tmp_path, program):
    """Debian's sort and python3, built without frame pointers: every leak heaptrack reports
    (it unwinds in the process, with libunwind) is one of ours, the same functions frame for
    frame and the same bytes. python3 loads _json with dlopen: the first stacks through it stop
    the process until its tables are read.

    sort leaks the same objects in every run, so each tool runs it once: together, heaptrack's
    walks from inside reallocarray (which calls realloc through the PLT, so heaptrack's realloc)
    would stop at our uretprobe's trampoline. Which objects python3 still holds at exit changes
    with its environment, its address space and its hash seed, all of which heaptrack's run
    changes: heaptrack runs it while heaptrail traces that run."""
    needs_bpf_loop()
    env = "setarch -R env -i " + " ".join(f"{k}={v}" for k, v in HEAPTRACK_ENV.items())
    if program == "sort":
        src = tmp_path / "in.txt"
        src.write_text("".join(f"{(i * 7919) % 10007}\n" for i in range(20000)))
        argv = [shutil.which("sort"), str(src), "-o", str(tmp_path / "out.txt")]
        subprocess.run(f"{env} heaptrack -o {tmp_path / 'ht'} " + " ".join(argv), shell=True,
                       check=True, capture_output=True, timeout=600)
        rep, _ = leaks_json(["--unwind", "auto", "--top", "1000", "-c",
                             f"{env} " + " ".join(argv)])
    else:
        script = tmp_path / "work.py"
        script.write_text("import json\n"
                          "items = [{'id': i, 'name': f'item{i}', 'tags': [i % 7, i % 11]}\n"
                          "         for i in range(20000)]\n"
                          "text = json.dumps(items)\n"
                          "back = json.loads(text)\n"
                          "assert len(back) == len(items)\n")
        argv = ["/usr/bin/python3.11", str(script)]  # Debian's, not the first on PATH
        rep, _ = leaks_json(["--unwind", "auto", "--top", "1000", "-c",
                             f"{env} heaptrack -o {tmp_path / 'ht'} " + " ".join(argv)])
    (data,) = tmp_path.glob("ht.*")
    theirs = heaptrack_leaks(data)
    (p,) = [p for p in rep["processes"] if p["comm"] == os.path.basename(argv[0])[:15]]
    if program == "sort":
        ours = [dict(s, frames=flame_order(s["frames"])) for s in p["stacks"]]
    else:
        ours = under_heaptrack(p["stacks"])
    assert len(theirs) >= 10 and max(map(len, theirs)) >= 7, theirs
    for names, leaked in theirs.items():
        match = [s for s in ours
                 if (len(s["frames"]) == len(names) or
                     len(names) == HEAPTRACK_DEPTH <= len(s["frames"])) and
                 all(same_function(h, f) for h, f in zip(names, s["frames"]))]
        assert sum(s["bytes"] for s in match) == leaked, (names, leaked, [
            ([f["sym"] for f in s["frames"]], s["bytes"]) for s in ours
            if s["frames"] and same_function(names[0], s["frames"][0])])


def test_unwind_by_call_frames_needs_bpf_loop(tmp_path):
    """--unwind dwarf runs where the kernel has bpf_loop (5.17). Below, it is refused in one
    line that names what is missing, and auto (the default) walks frame pointers, stopping
    where they end rather than inventing frames; -v says which fallback it took."""
    truth = tmp_path / "t.jsonl"
    proc = run_heaptrail(["leaks", "--unwind", "dwarf", "-c", "true"])
    rep, verbose = leaks_json(["-v", "-c", f"{fixture_path('deep_nofp')} {truth}"])
    (p,) = [p for p in rep["processes"] if p["comm"] == "deep_nofp"]
    fallback = "heaptrail: fallback: no bpf_loop (Linux 5.17): user stacks are walked by " \
        "frame pointers only"
    if not without_bpf_loop():
        assert proc.returncode == 0, proc.stderr
        assert fallback not in verbose.stderr
        return  # whole stacks: test_deep_stacks_without_frame_pointers_equal_the_program_own
    assert proc.returncode == 1 and proc.stderr == (
        "heaptrail: --unwind dwarf needs bpf_loop (Linux 5.17), which this kernel has not: "
        "--unwind fp walks frame pointers only\n"), proc.stderr
    assert fallback in verbose.stderr
    for depth in (5, 20, 60):
        (s,) = [s for s in p["stacks"] if s["bytes"] == 1000 + depth]
        got = [f["addr"] for f in s["frames"] if not f.get("inlined")]
        assert len(got) < len(deep_truth(truth, 1000 + depth)), s  # nothing invented


def test_unwind_mode_is_checked():
    proc = run_heaptrail(["leaks", "--unwind", "guess", "-c", "true"])
    assert proc.returncode == 2 and proc.stderr.startswith("heaptrail: --unwind 'guess'"), \
        proc.stderr


def test_container_binary_names_from_its_own_file(tmp_path):
    """A program run in a private mount namespace from a path that exists only there, while
    the host has another file at that path: its frames are named from its own file (before:
    no names, or the host file's: container_alloc_a reported as __do_global_dtors_aux)."""
    box = tmp_path / "box"
    box.mkdir()
    # on the host, a different program at the same path
    subprocess.run(["cp", fixture_path("forker"), str(box / "prog")], check=True)
    script = tmp_path / "run.sh"
    script.write_text(f"mount -t tmpfs none {box} && cp {fixture_path('bad_frames')} {box}/prog "
                      f"&& exec {box}/prog\n")
    rep, proc = leaks_json(["-c", f"unshare -m --propagation private sh {script}"])
    (p,) = [p for p in rep["processes"] if p["comm"] == "prog"]
    stacks = {s["bytes"]: s for s in p["stacks"]}
    assert set(stacks) == {2 * 4242, 1313}, p["stacks"]
    good = stacks[1313]["frames"]
    assert [f["sym"] for f in good[:2]] == ["good_caller", "main"], good
    assert good[0]["module"] == f"{box}/prog" and good[0]["file"].endswith("bad_frames.c")
    assert [f["sym"] for f in stacks[2 * 4242]["frames"]] == ["bad_caller"]
    assert "warning" not in proc.stderr, proc.stderr


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_id_of(path):
    return re.search(r"BuildID\[sha1\]=([0-9a-f]+)",
                     subprocess.run(["file", "-b", path], capture_output=True,
                                    text=True).stdout).group(1)


@contextlib.contextmanager
def debuginfod_serving(tmp_path, served, build_id, kind):
    """Debian's debuginfod on loopback over the directory served, once it serves build_id's
    kind ("debuginfo", "executable"); yields the environment that points clients at it."""
    port = free_port()
    server = subprocess.Popen(["debuginfod", "-p", str(port), "-F", str(served), "-d",
                               str(tmp_path / "db.sqlite")], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:  # until it has scanned the directory
            try:
                urllib.request.urlopen(f"{url}/buildid/{build_id}/{kind}", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "debuginfod never served the file"
                time.sleep(0.2)
        yield dict(os.environ, DEBUGINFOD_URLS=url,
                   DEBUGINFOD_CACHE_PATH=str(tmp_path / "cache"))
    finally:
        server.kill()
        server.wait()


def without_debuginfod():
    return {k: v for k, v in os.environ.items() if not k.startswith("DEBUGINFOD")}


def test_debuginfod_names_a_stripped_binary(tmp_path):
    """A binary with no symbols at all, its debug info only on a debuginfod server (Debian's,
    started here on loopback): with DEBUGINFOD_URLS its frames are named, and the debug file
    lands in the client's cache; without, they are not."""
    # alone in a directory: libdw would find bad_frames_stripped.debug beside it
    (tmp_path / "bin").mkdir()
    binary = str(tmp_path / "bin" / "bad_frames_stripped")
    shutil.copy(fixture_path("bad_frames_stripped"), binary)
    build_id = build_id_of(binary)
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(fixture_path("bad_frames_stripped") + ".debug", served / "bad_frames.debug")
    with debuginfod_serving(tmp_path, served, build_id, "debuginfo") as env:
        proc = subprocess.run([HEAPTRAIL, "leaks", "--json", "-c", binary], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        rep = json.loads(proc.stdout.splitlines()[-1])
        (p,) = [p for p in rep["processes"] if p["comm"] == "bad_frames_stri"]
        good = [s for s in p["stacks"] if s["bytes"] == 1313][0]["frames"]
        assert [f["sym"] for f in good[:2]] == ["good_caller", "main"], good
        assert good[0]["file"].endswith("bad_frames.c"), good
        assert (tmp_path / "cache" / build_id / "debuginfo").exists()
    # the control: without the server, nothing names them
    proc = subprocess.run([HEAPTRAIL, "leaks", "--json", "-c", binary],
                          env=without_debuginfod(), capture_output=True, text=True, timeout=120)
    rep = json.loads(proc.stdout.splitlines()[-1])
    (p,) = [p for p in rep["processes"] if p["comm"] == "bad_frames_stri"]
    good = [s for s in p["stacks"] if s["bytes"] == 1313][0]["frames"]
    assert good[0]["sym"] is None, good


def test_recording_replayed_elsewhere_finds_files_by_build_id(tmp_path):
    """A recording names its files' build-ids. Replayed where its path holds another program
    (another machine, a new build), that file is never used for names (before: its symbols
    named the recorded frames); the recorded one is found by build-id on a debuginfod server."""
    (tmp_path / "bin").mkdir()
    binary = str(tmp_path / "bin" / "prog")
    shutil.copy(fixture_path("bad_frames"), binary)
    build_id = build_id_of(binary)
    rec = tmp_path / "r.ht"
    proc = run_heaptrail(["record", "-o", str(rec), "-c", binary])
    assert proc.returncode == 0, proc.stderr

    def good_frames(env):
        proc = subprocess.run([HEAPTRAIL, "leaks", "--json", "-i", str(rec)], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        rep = json.loads(proc.stdout.splitlines()[-1])
        (p,) = [p for p in rep["processes"] if p["comm"] == "prog"]
        assert sum(s["bytes"] for s in p["stacks"]) == 2 * 4242 + 1313, p["stacks"]
        return [s for s in p["stacks"] if s["bytes"] == 1313][0]["frames"], proc.stderr

    frames, _ = good_frames(without_debuginfod())  # the same file: named from it
    assert [f["sym"] for f in frames[:2]] == ["good_caller", "main"], frames
    # another program at the path now
    served = tmp_path / "served"
    served.mkdir()
    os.rename(binary, served / "prog")
    shutil.copy(fixture_path("leaky"), binary)
    frames, err = good_frames(without_debuginfod())
    assert frames[0]["sym"] is None and frames[0]["module"] == binary, frames
    assert f"{binary} is not the file recorded" in err, err
    with debuginfod_serving(tmp_path, served, build_id, "executable") as env:
        frames, err = good_frames(env)
    assert [f["sym"] for f in frames[:2]] == ["good_caller", "main"], frames
    assert frames[0]["file"].endswith("bad_frames.c") and "warning" not in err, (frames, err)
    assert (tmp_path / "cache" / build_id / "executable").exists()


def test_pid_namespace_is_shown():
    """A process in its own pid namespace is traced by its host pid, and the report also gives
    the pid it has there (here 1: unshare -f makes it the namespace's first process)."""
    rep, proc = leaks_json(["-c", f"unshare -p -f --mount-proc sh -c "
                                  f"'exec {fixture_path('bad_frames')}'"])
    (p,) = [p for p in rep["processes"] if p["comm"] == "bad_frames"]
    assert p["ns_pid"] == 1 and p["pid"] != 1, p
    assert p["live_bytes"] == 2 * 4242 + 1313
    # processes of the host's namespace have none
    assert all("ns_pid" not in q for q in rep["processes"] if q["comm"] == "unshare")
    text = run_heaptrail(["leaks", "-c", f"unshare -p -f --mount-proc sh -c "
                                         f"'exec {fixture_path('bad_frames')}'"])
    assert re.search(r"^pid \d+ \(bad_frames, pid 1 in its namespace, exited with 0\)",
                     text.stdout, re.M), text.stdout
    events = [json.loads(l) for l in run_heaptrail(
        ["trace", "--json", "-e", "process", "-c", f"unshare -p -f --mount-proc sh -c "
                                                  f"'exec {fixture_path('bad_frames')}'"]
    ).stdout.splitlines()]
    assert any(e["event"] == "exec" and e.get("ns_pid") == 1 for e in events), events


def test_pid_namespace_is_shown_when_attached(tmp_path):
    """-p with the host pid of a process running in its own pid namespace (seen first by its
    name, not by its exec): the report gives its pid there too."""
    from test_targets import attach_to_waiting

    def child_of(target):  # unshare -f forks the fixture, which says it is pid 1 there
        (child,) = open(f"/proc/{target.pid}/task/{target.pid}/children").read().split()
        return int(child)

    argv = ["unshare", "-p", "-f", "--mount-proc", fixture_path("wait_alloc"),
            str(tmp_path / "t.jsonl")]
    pid, out = attach_to_waiting(argv, ["leaks", "--json"], "the report comes at the end",
                                 tmp_path / "ht", pid_of=child_of)
    rep = json.loads(open(out).read().splitlines()[-1])
    (p,) = [p for p in rep["processes"] if p["pid"] == pid]
    assert p["comm"] == "wait_alloc" and p["ns_pid"] == 1, p
