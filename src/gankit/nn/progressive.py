"""Blocks shared by the progressive, equalized-learning-rate GANs (ProGAN, StyleGAN).

The internal power-of-two resolution and the resizes in and out of it, the paper's channel
rule, and ProGAN's discriminator (from-RGB at every level, conv blocks with average-pool
downsampling, minibatch stddev, a dense head) that StyleGAN uses unchanged.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import ConfigError
from gankit.nn.equalized import EqualConv2d, EqualLinear, FromRGB, MinibatchStd, downsample2x


def internal_resolution(resolution: int) -> int:
    """The smallest 4 * 2^k >= ``resolution``: the size the progressive networks work at."""
    if resolution < 4:
        raise ConfigError(f"progressive and style-based GANs need images of at least 4x4, got "
                          f"{resolution}x{resolution}; set data.resolution (e.g. 64)")
    return 4 * 2 ** math.ceil(math.log2(resolution / 4))


def to_internal(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize data-resolution images to the internal power-of-two size (identity if equal)."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=True)


def to_external(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize generated images to the data resolution (identity if equal)."""
    if x.shape[-1] == size:
        return x
    mode = "area" if x.shape[-1] > size else "nearest"
    return F.interpolate(x, size=(size, size), mode=mode)


def channel_rule(fmap_base: int, fmap_max: int, fmap_min: int = 1):
    """Feature maps at resolution r: ``min(fmap_max, fmap_base / r)`` (the paper's nf)."""
    return lambda res: int(max(fmap_min, min(fmap_max, fmap_base // res)))


def lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class DBlock(nn.Module):
    """conv3x3 -> lrelu -> conv3x3 -> lrelu -> avg-pool 2x."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1, self.conv2 = EqualConv2d(cin, cin, 3), EqualConv2d(cin, cout, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return downsample2x(lrelu(self.conv2(lrelu(self.conv1(x)))))


class Discriminator(nn.Module):
    """images (N, C, 4*2^level, same) -> scores (N,); the level is read from the image size.

    Ends with minibatch stddev (group 4), conv3x3, a dense layer and a linear output.
    """

    def __init__(self, channels: int, max_level: int, ch, mbstd_group: int = 4):
        super().__init__()
        c0 = ch(4)
        self.max_level = max_level
        self.from_rgb = nn.ModuleList(FromRGB(channels, ch(4 * 2 ** i))
                                      for i in range(max_level + 1))
        # blocks[i - 1] takes level i (resolution 4 * 2^i) down to level i - 1
        self.blocks = nn.ModuleList(DBlock(ch(4 * 2 ** i), ch(4 * 2 ** (i - 1)))
                                    for i in range(1, max_level + 1))
        self.mbstd = MinibatchStd(mbstd_group)
        self.conv = EqualConv2d(c0 + 1, c0, 3)
        self.fc = EqualLinear(c0 * 16, c0)
        self.out = EqualLinear(c0, 1, gain=1.0)

    def forward(self, img: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
        level = int(round(math.log2(img.shape[-1] / 4)))
        if img.shape[-1] != 4 * 2 ** level or not 0 <= level <= self.max_level:
            raise ValueError(f"discriminator takes 4x4 .. {4 * 2 ** self.max_level} square "
                             f"images of a power-of-two size, got {tuple(img.shape)}")
        x = self.from_rgb[level](img)
        if level > 0:
            x = self.blocks[level - 1](x)
            if alpha < 1.0:
                skip = self.from_rgb[level - 1](downsample2x(img))
                x = skip + alpha * (x - skip)
        for i in range(level - 1, 0, -1):
            x = self.blocks[i - 1](x)
        x = lrelu(self.conv(self.mbstd(x)))
        x = lrelu(self.fc(x.flatten(1)))
        return self.out(x).squeeze(1)
