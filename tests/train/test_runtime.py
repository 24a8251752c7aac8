"""train.amp=auto: bf16 only where the hardware has it, and never for 2-D point data; the
malloc thresholds that spare each training step fresh page faults."""
import os
import subprocess
import sys

import pytest
import torch

from gankit.train import runtime
from gankit.train.runtime import resolve_amp


def test_auto_keeps_point_data_in_fp32_even_with_native_bf16(monkeypatch):
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: True)
    cpu = torch.device("cpu")
    assert resolve_amp("auto", cpu, "image") is torch.bfloat16
    assert resolve_amp("auto", cpu, "points") is None
    assert resolve_amp("bf16", cpu, "points") is torch.bfloat16  # asked for explicitly
    monkeypatch.setattr(runtime, "cpu_has_bf16", lambda: False)
    assert resolve_amp("auto", cpu, "image") is None


def test_bf16_cannot_hold_ring8_mode_widths():
    # why: ring8's modes have std 0.01 at radius 1; bf16's step there is 2**-7 = 0.0078
    x = torch.tensor([1.0, 1.003, 0.9985])  # a third of a mode's std apart
    assert torch.unique(x.to(torch.bfloat16)).numel() == 1


GROWING_BLOCKS = """
import resource, sys, torch
from gankit.train.runtime import keep_freed_memory
if sys.argv[1] == "keep":
    print(keep_freed_memory(), file=sys.stderr)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for mb in range(1, 25):  # blocks of 1..24 MiB, each freed before the next is allocated
    torch.ones(mb << 20, dtype=torch.uint8)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_keep_freed_memory_stops_page_faults_for_each_new_block(tmp_path):
    # glibc's default dynamic threshold serves each larger block with fresh mmap pages (about
    # 300 MiB of page faults here); with the fixed 32 MiB threshold freed heap memory is reused
    if not runtime.keep_freed_memory().endswith("reused"):
        pytest.skip("no glibc mallopt here")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    faults = {}
    for mode in ("default", "keep"):
        out = subprocess.run([sys.executable, "-c", GROWING_BLOCKS, mode], env=env,
                             capture_output=True, text=True, check=True)
        faults[mode] = int(out.stdout.split()[-1])
    page_mb = 2 ** 20 // os.sysconf("SC_PAGE_SIZE")
    assert faults["default"] > 200 * page_mb  # the 300 MiB really were faulted in
    assert faults["keep"] < 120 * page_mb, faults  # measured: about 70 MiB


def test_keep_freed_memory_leaves_the_environments_choice(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert "left as the environment sets them" in runtime.keep_freed_memory()
