"""CPU seconds of one forward + backward pass of batch 16 at 64x64 through the two StyleGAN2
discriminator bodies at the widths of the faces runs: the residual D of session 10's "A"
(fmap_base 1024, fmap_max 64) and the strided D of the faces-stylegan2 preset (DCGAN's body,
d_fmap_max 256). One thread; process CPU time, so read the ratio on a loaded machine.

    python benchmarks/faces/sg2_profile_d.py
"""
from __future__ import annotations

import time

import torch

from gankit.nn.progressive import channel_rule
from gankit.nn.stylegan2_layers import ResidualDiscriminator, StridedDiscriminator


def cpu_per_pass(D: torch.nn.Module, x: torch.Tensor, n: int = 10) -> float:
    D(x).mean().backward()  # warm-up
    t0 = time.process_time()
    for _ in range(n):
        D(x).mean().backward()
    return (time.process_time() - t0) / n


def main() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(16, 3, 64, 64)
    nets = {"residual, fmap_base 1024 / fmap_max 64":
            ResidualDiscriminator(3, 64, channel_rule(1024, 64)),
            "strided, fmap_base 1024 / d_fmap_max 256":
            StridedDiscriminator(3, 64, channel_rule(1024, 256))}
    times = {}
    for name, D in nets.items():
        times[name] = cpu_per_pass(D, x)
        params = sum(p.numel() for p in D.parameters())
        print(f"{name}: {times[name]:.4f} CPU s per pass, {params / 1e6:.2f}M parameters")
    a, b = times.values()
    print(f"strided / residual: {b / a:.2f}")


if __name__ == "__main__":
    main()
