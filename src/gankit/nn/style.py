"""Style-based generator layers (Karras et al. 2019, "A Style-Based Generator Architecture").

Mapping network
    ``f: Z -> W``, ``w = f(z)``: pixel-normalise z, then ``L`` (8) equalized fully connected
    layers with leaky ReLU, learning rate multiplier 0.01 (the paper's section 2 and C).

AdaIN (adaptive instance normalization)
    ``AdaIN(x_i, y) = y_{s,i} * (x_i - mu(x_i)) / sigma(x_i) + y_{b,i}``, where the style
    ``y = (y_s, y_b) = A(w)`` is a learned affine transform of ``w``. ``y_s`` starts at 1 and
    ``y_b`` at 0, so an untrained layer is plain instance normalization.

Noise injection
    ``x + B * n`` with ``n ~ N(0, 1)`` a single-channel (N, 1, H, W) noise image and ``B`` a
    learned per-channel scale (zero at init), so stochastic detail is added where it helps.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.nn.equalized import EqualLinear, PixelNorm


class MappingNetwork(nn.Module):
    """z (N, z_dim) -> w (N, w_dim) through ``num_layers`` equalized FC layers."""

    def __init__(self, z_dim: int, w_dim: int, num_layers: int = 8, lr_mul: float = 0.01):
        super().__init__()
        layers: list[nn.Module] = [PixelNorm()]
        dims = [z_dim] + [w_dim] * num_layers
        for i in range(num_layers):
            layers += [EqualLinear(dims[i], dims[i + 1], lr_mul=lr_mul), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers)
        self.z_dim, self.w_dim = z_dim, w_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"mapping network expects z of shape (N, {self.z_dim}), "
                             f"got {tuple(z.shape)}")
        return self.net(z)


class AdaIN(nn.Module):
    """Instance-normalise x (N,C,H,W) and apply the style ``A(w)`` for w (N, w_dim)."""

    def __init__(self, channels: int, w_dim: int, eps: float = 1e-8):
        super().__init__()
        # gain 1: the affine map is linear; bias_init 1 for the scales, 0 for the biases
        self.affine = EqualLinear(w_dim, 2 * channels, gain=1.0)
        with torch.no_grad():
            self.affine.bias[:channels] = 1.0
        self.channels, self.eps = channels, eps

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w)
        ys, yb = style[:, :self.channels, None, None], style[:, self.channels:, None, None]
        mu = x.mean(dim=(2, 3), keepdim=True)
        x = x - mu
        x = x * torch.rsqrt(x.pow(2).mean(dim=(2, 3), keepdim=True) + self.eps)
        return ys * x + yb


class NoiseInjection(nn.Module):
    """``x + lr_mul * weight[c] * noise``; ``noise`` is (N, 1, H, W), drawn here when not given.

    ``lr_mul`` (as the mapping network's): the strengths start at zero and Adam moves the
    stored ``weight`` by about the learning rate per step, so the effective strength learns
    ``lr_mul`` times as fast (0 = no noise at all).
    """

    def __init__(self, channels: int, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels))
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device,
                                dtype=x.dtype)
        return x + (self.weight * self.lr_mul).view(1, -1, 1, 1) * noise


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)
