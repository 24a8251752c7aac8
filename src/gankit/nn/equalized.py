"""Layers of progressive GANs (Karras et al. 2018, "Progressive Growing of GANs").

Equalized learning rate
    Weights are stored as ``w_hat ~ N(0, 1)`` and scaled at run time by the He constant
    ``c = gain / sqrt(fan_in)``: the layer computes ``y = (c * w_hat) x + b``. Adam normalises
    updates per parameter, so storing the unscaled weight makes the effective learning rate of
    every layer the same, whatever its fan-in (the paper's section 4.1). ``lr_mul`` multiplies
    both the scale and the bias, the StyleGAN trick for a slower mapping network: initial
    weights are ``N(0, 1/lr_mul^2)`` so the effective initial weights are unchanged, while the
    step size is divided by ``1/lr_mul``.

Pixelwise feature-vector normalization
    ``b_{x,y} = a_{x,y} / sqrt(1/C * sum_j (a^j_{x,y})^2 + eps)``, eps = 1e-8 (section 4.2).

Minibatch standard deviation (section 3)
    Split the batch into groups of ``G`` (4); per group, the standard deviation of each feature
    at each position, averaged over features and positions, becomes one extra feature map.

Resampling: nearest-neighbour 2x upsampling and 2x2 average pooling, as in the paper.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2.0)


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate (see module docstring)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 gain: float = LRELU_GAIN, lr_mul: float = 1.0, bias_init: float = 0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init) / lr_mul)) \
            if bias else None
        self.scale = gain / math.sqrt(in_features) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = None if self.bias is None else self.bias * self.lr_mul
        return F.linear(x, self.weight * self.scale, b)

    def extra_repr(self) -> str:
        o, i = self.weight.shape
        return f"{i}, {o}, scale={self.scale:.4g}, lr_mul={self.lr_mul}"


class EqualConv2d(nn.Module):
    """2-D convolution with equalized learning rate; 'same' padding by default."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 padding: int | None = None, bias: bool = True, gain: float = LRELU_GAIN,
                 stride: int = 1):
        super().__init__()
        self.stride = stride
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size,
                                               kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size * kernel_size)
        self.padding = kernel_size // 2 if padding is None else padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride,
                        padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return (f"{i}, {o}, kernel_size={k}, stride={self.stride}, padding={self.padding}, "
                f"scale={self.scale:.4g}")


class PixelNorm(nn.Module):
    """Normalise each pixel's feature vector to unit RMS over channels (dim 1)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStd(nn.Module):
    """Append the mean within-group standard deviation as one extra channel (N,C,H,W)->(N,C+1,H,W).

    The group size is ``min(group_size, N)`` reduced until it divides N, so any batch works
    (a batch of 1 gets a zero feature: no statistics to measure).
    """

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        self.group_size = group_size
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        while n % g:
            g -= 1
        # sample i is grouped with i + k * (n // g), k = 0..g-1
        y = x.reshape(g, n // g, c, h, w)
        y = y - y.mean(dim=0, keepdim=True)
        y = (y.pow(2).mean(dim=0) + self.eps).sqrt()        # (n/g, c, h, w)
        y = y.mean(dim=(1, 2, 3)).reshape(1, n // g, 1, 1, 1)
        y = y.expand(g, n // g, 1, h, w).reshape(n, 1, h, w)
        return torch.cat([x, y], dim=1)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x upsampling (N,C,H,W) -> (N,C,2H,2W)."""
    return F.interpolate(x, scale_factor=2, mode="nearest")


def downsample2x(x: torch.Tensor) -> torch.Tensor:
    """2x2 average pooling (N,C,H,W) -> (N,C,H/2,W/2)."""
    return F.avg_pool2d(x, 2)


class Upsample(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upsample2x(x)


class Downsample(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return downsample2x(x)


class ToRGB(nn.Module):
    """Features -> image channels: a linear (gain 1) equalized 1x1 convolution."""

    def __init__(self, in_channels: int, channels: int = 3):
        super().__init__()
        self.conv = EqualConv2d(in_channels, channels, 1, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class FromRGB(nn.Module):
    """Image channels -> features: equalized 1x1 convolution and leaky ReLU (slope 0.2)."""

    def __init__(self, channels: int, out_channels: int):
        super().__init__()
        self.conv = EqualConv2d(channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(self.conv(x), 0.2)
