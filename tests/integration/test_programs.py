# SPDX-License-Identifier: GPL-2.0-only
"""Every BPF program verifies on this kernel, including those it cannot attach (the kprobe
variants of the kernel-function hooks, on a kernel without kprobes). fexit may be refused by
policy, never by the verifier."""
import os
import subprocess

from conftest import BUILD


def test_every_program_verifies():
    proc = subprocess.run([os.path.join(BUILD, "verify_progs")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    ok = [l.split()[1] for l in lines if l.startswith("ok ")]
    refused = [l.split()[1] for l in lines if l.startswith("refused ")]
    assert all(name.startswith("fexit_") for name in refused)
    for name in ("alloc_enter", "alloc_return_multi", "sys_enter", "sys_exit", "process_fork",
                 "kprobe_do_mmap", "kretprobe_mprotect_fixup"):
        assert name in ok, lines
