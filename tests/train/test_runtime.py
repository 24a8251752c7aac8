"""train.amp=auto: bf16 only where the hardware has it, and never for 2-D point data."""
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
