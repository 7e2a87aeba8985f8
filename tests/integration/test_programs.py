# SPDX-License-Identifier: GPL-2.0-only
"""Every BPF program verifies on this kernel, including those it cannot attach (the kprobe
variants of the kernel-function hooks, on a kernel without kprobes). fexit may be refused by
policy, never by the verifier. A program that calls a helper this kernel lacks is skipped,
saying which and since when, and its stand-in verifies (5.10: the compat allocator programs for
those with bpf_loop; kprobes for fexit, which need bpf_get_func_arg)."""
import os
import subprocess

from conftest import BUILD


def test_every_program_verifies():
    proc = subprocess.run([os.path.join(BUILD, "verify_progs")], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    ok = [l.split()[1] for l in lines if l.startswith("ok ")]
    refused = [l.split()[1] for l in lines if l.startswith("refused ")]
    assert all(name.startswith("fexit_") for name in refused)
    skipped = {l.split()[1].rstrip(":"): l.split(": ", 1)[1] for l in lines
               if l.startswith("skipped ")}
    loop = {"alloc_enter", "alloc_return", "alloc_enter_multi", "alloc_return_multi"}
    for name, why in skipped.items():
        if name in loop:
            assert why == "needs bpf_loop (Linux 5.17)"
        else:
            assert name.startswith("fexit_") and why == "needs bpf_get_func_arg (Linux 5.17)"
    assert not skipped or loop <= set(skipped)  # all of them or none
    for name in ("alloc_enter_compat", "alloc_return_compat", "sys_enter", "sys_exit",
                 "process_fork", "kprobe_do_mmap", "kretprobe_mprotect_fixup") + \
            (() if skipped else ("alloc_enter", "alloc_return_multi")):
        assert name in ok, lines
