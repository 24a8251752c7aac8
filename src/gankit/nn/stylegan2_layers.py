r"""StyleGAN2 layers (Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN").

Modulated convolution with weight demodulation (the paper's section 2.2)
    A style ``s = A(w)`` (an equalized affine map, bias initialised to 1) scales the input
    feature maps of a 3x3 convolution, ``w'_{ijk} = s_i w_{ijk}``; demodulation rescales each
    output map so that it has unit expected standard deviation when the inputs do:

    .. math:: w''_{ijk} = w'_{ijk} \Big/ \sqrt{\textstyle\sum_{i,k} {w'_{ijk}}^2 + \epsilon}

    This replaces AdaIN's explicit normalisation of the activations (whose blob artifacts
    motivated the redesign). We compute it without per-sample weights: scale the input by
    ``s``, convolve with the shared weight, scale the output by the demodulation coefficients
    ``d_j = (\sum_i s_i^2 \sum_k w_{ijk}^2 + \epsilon)^{-1/2}``. This is the same maths as the
    grouped convolution (the "fused" form) and runs as one ordinary batched convolution, which
    is much faster on a CPU.

Noise inputs: one (N, 1, H, W) noise image per layer, scaled by a learned scalar strength
(zero at init), added after the convolution, before the bias and activation.

Skip generator (section 4.1): every resolution has a ``ToRGB`` (a modulated 1x1 convolution
without demodulation); the image is the sum of the upsampled coarser image and this level's.

Residual discriminator: blocks ``(skip(x) + conv(conv(x))) / sqrt(2)`` with a 1x1 skip. The
strided discriminator replaces the blocks by DCGAN's 4x4 stride-2 convolutions (same epilogue).

Equalized learning rate everywhere: weights stored N(0, 1) and scaled by 1/sqrt(fan_in) at run
time; activations are leaky ReLU(0.2) times sqrt(2). Resampling: bilinear 2x upsampling (the
separable [1, 3, 3, 1] filter of the paper, up to the border); an upsampling modulated
convolution is a stride-2 transposed convolution followed by the filter and a downsampling
one in D the filter followed by a stride-2 convolution, as in the official code, so the 3x3
convolution runs at the low resolution (4 times fewer multiply-adds).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.nn.equalized import EqualConv2d, EqualLinear, MinibatchStd
from gankit.nn.style import MappingNetwork

SQRT2 = math.sqrt(2.0)


def act(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU (0.2) with the gain sqrt(2) that keeps the signal's magnitude."""
    return F.leaky_relu(x, 0.2) * SQRT2


def _fir(x: torch.Tensor, gain: float) -> torch.Tensor:
    """The 4x4 [1, 3, 3, 1] outer-product filter, normalised to sum ``gain``, one per channel
    of ``x`` (a depthwise kernel, C x 1 x 4 x 4)."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0], device=x.device, dtype=x.dtype)
    k = torch.outer(k, k) * (gain / 64.0)
    # int(): a fixed channel count, so that an ONNX trace sees a kernel of known shape
    return k.expand(int(x.shape[1]), 1, 4, 4)


def up2(x: torch.Tensor) -> torch.Tensor:
    """2x upsampling with the [1, 3, 3, 1] filter: bilinear interpolation inside the image
    (zero padding at the border), as a depthwise transposed convolution, which is 2-4 times
    faster than ``F.interpolate(mode="bilinear")`` on a CPU."""
    return F.conv_transpose2d(x, _fir(x, 4.0), stride=2, padding=1, groups=int(x.shape[1]))


def blur(x: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Low-pass [1, 3, 3, 1] filter (padding 1: H -> H - 1, or H / 2 with stride 2)."""
    return F.conv2d(x, _fir(x, 1.0), stride=stride, padding=1, groups=int(x.shape[1]))


def down2(x: torch.Tensor) -> torch.Tensor:
    """2x downsampling: filter, then keep every second pixel."""
    return blur(x, stride=2)


def demod_coefficients(weight: torch.Tensor, styles: torch.Tensor,
                       eps: float = 1e-8) -> torch.Tensor:
    """(N, C_out): 1 / sqrt(sum_{i,k} (s_i w_{oik})^2 + eps) for weight (O, I, k, k)."""
    w2 = weight.square().sum(dim=(2, 3))  # (O, I)
    return torch.rsqrt(styles.square() @ w2.t() + eps)


class ModulatedConv2d(nn.Module):
    """Style-modulated k x k convolution x (N, I, H, W), w (N, w_dim) -> (N, O, H, W).

    ``demodulate=False`` for ToRGB. ``up``: bilinear 2x upsampling first.
    """

    def __init__(self, cin: int, cout: int, w_dim: int, kernel: int = 3,
                 demodulate: bool = True, up: bool = False):
        super().__init__()
        self.affine = EqualLinear(w_dim, cin, gain=1.0, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel))
        self.scale = 1.0 / math.sqrt(cin * kernel * kernel)
        self.demodulate, self.up, self.padding = demodulate, up, kernel // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)  # (N, I)
        weight = self.weight * self.scale
        x = x * styles.to(x.dtype)[:, :, None, None]
        if self.up:  # (H -> 2H + 1) then the filter (-> 2H)
            x = blur(F.conv_transpose2d(x, weight.to(x.dtype).transpose(0, 1), stride=2), 1)
            x = x * 4.0  # the filter's upsampling gain
        else:
            x = F.conv2d(x, weight.to(x.dtype), padding=self.padding)
        if self.demodulate:
            d = demod_coefficients(weight, styles)
            x = x * d.to(x.dtype)[:, :, None, None]
        return x

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, kernel_size={k}, demodulate={self.demodulate}, up={self.up}"


class SynthesisLayer(nn.Module):
    """[upsample] -> modulated conv3x3 -> + strength * noise -> + bias -> lrelu * sqrt(2)."""

    def __init__(self, cin: int, cout: int, w_dim: int, res: int, up: bool = False,
                 noise_lr_mul: float = 1.0):
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, w_dim, 3, up=up)
        # the strength used is noise_strength * noise_lr_mul: it learns that many times as fast
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.noise_lr_mul = noise_lr_mul
        # a schedule's factor on the strength (StyleGAN2's config option noise_fade sets it);
        # a buffer, so checkpoints, the EMA copy and exports carry it
        self.register_buffer("noise_gain", torch.ones([]))
        self.bias = nn.Parameter(torch.zeros(cout))
        self.res = res
        # a fixed noise image per layer: with noise "const" a seed always gives the same image
        self.register_buffer("noise_const", torch.randn(1, 1, res, res))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None = None,
                mode: str = "const") -> torch.Tensor:
        x = self.conv(x, w)
        if noise is None:
            if mode == "random":
                noise = torch.randn(x.shape[0], 1, self.res, self.res, device=x.device,
                                    dtype=x.dtype)
            elif mode == "const":
                noise = self.noise_const
        if noise is not None:
            strength = self.noise_strength * self.noise_lr_mul * self.noise_gain
            x = x + noise.to(x.dtype) * strength.to(x.dtype)
        return act(x + self.bias.to(x.dtype).view(1, -1, 1, 1))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # weights saved before noise_gain existed: the full noise, as they were trained
        state_dict.setdefault(prefix + "noise_gain", torch.ones([]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class ToRGB(nn.Module):
    """Modulated 1x1 convolution without demodulation, plus a bias: features -> image."""

    def __init__(self, cin: int, channels: int, w_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(cin, channels, w_dim, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return self.conv(x, w) + self.bias.to(x.dtype).view(1, -1, 1, 1)


class SynthesisNetwork(nn.Module):
    """ws (N, num_ws, w_dim) -> images (N, C, R, R), skip architecture (``architecture``
    "orig": one ToRGB at the last resolution only, as StyleGAN's output).

    Style inputs: 4x4 conv (0), then per resolution r = 8..R an upsampling conv and a conv;
    each ToRGB shares its w with the next level's first conv, as in the official code, so
    ``num_ws = 2 log2(R) - 2`` (10 at 64x64). ``layer_res`` lists each conv layer's resolution
    (the shapes of the per-layer noise images). ``input_mode`` "dense": the 4x4 input is a
    linear map of the first style input instead of the learned constant.
    """

    def __init__(self, w_dim: int, channels: int, resolution: int, ch,
                 noise_lr_mul: float = 1.0, noise_max_res: int = 0,
                 architecture: str = "skip", input_mode: str = "const"):
        super().__init__()
        if architecture not in ("skip", "orig"):
            raise ValueError(f"architecture must be skip or orig, got {architecture!r}")
        if input_mode not in ("const", "dense"):
            raise ValueError(f"input_mode must be const or dense, got {input_mode!r}")

        def nm(res: int) -> float:  # no noise above noise_max_res (0: noise everywhere)
            return noise_lr_mul if not noise_max_res or res <= noise_max_res else 0.0

        levels = int(math.log2(resolution)) - 1  # 4x4 .. RxR
        self.input_mode = input_mode
        if input_mode == "const":
            self.const = nn.Parameter(torch.randn(1, ch(4), 4, 4))
        else:  # the 4x4 input from the first style input, as ProGAN's dense first layer
            self.input = EqualLinear(w_dim, ch(4) * 16, gain=1.0)
        convs = [SynthesisLayer(ch(4), ch(4), w_dim, 4, noise_lr_mul=nm(4))]
        rgbs = [ToRGB(ch(4), channels, w_dim)] if architecture == "skip" else []
        for i in range(1, levels):
            res = 4 * 2 ** i
            convs += [SynthesisLayer(ch(res // 2), ch(res), w_dim, res, up=True,
                                     noise_lr_mul=nm(res)),
                      SynthesisLayer(ch(res), ch(res), w_dim, res, noise_lr_mul=nm(res))]
            if architecture == "skip":
                rgbs.append(ToRGB(ch(res), channels, w_dim))
        if architecture == "orig":
            rgbs.append(ToRGB(ch(resolution), channels, w_dim))
        self.skip, self.levels = architecture == "skip", levels
        self.convs, self.rgbs = nn.ModuleList(convs), nn.ModuleList(rgbs)
        self.num_ws = len(convs) + 1
        self.layer_res = [layer.res for layer in convs]

    def forward(self, ws: torch.Tensor, noises=None, noise_mode: str = "const") -> torch.Tensor:
        def noise(i):
            return None if noises is None else noises[i]

        if self.input_mode == "const":
            x = self.const.expand(ws.shape[0], -1, -1, -1).to(ws.dtype)
        else:
            x = self.input(ws[:, 0]).view(ws.shape[0], -1, 4, 4)
        x = self.convs[0](x, ws[:, 0], noise(0), noise_mode)
        img = self.rgbs[0](x, ws[:, 1]) if self.skip else None
        for level in range(1, self.levels):
            i = 2 * level - 1  # index of this level's first conv and of its style input
            x = self.convs[i](x, ws[:, i], noise(i), noise_mode)
            x = self.convs[i + 1](x, ws[:, i + 1], noise(i + 1), noise_mode)
            if self.skip:
                img = up2(img) + self.rgbs[level](x, ws[:, i + 2])
        return img if self.skip else self.rgbs[0](x, ws[:, -1])


class DBlock(nn.Module):
    """Residual block: ``(1x1(down(x)) + conv_down(conv(x))) / sqrt(2)``, cin -> cout."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        # gain sqrt(2) inside the equalized scale is the lrelu gain of the official code
        self.conv0, self.conv1 = EqualConv2d(cin, cin, 3), EqualConv2d(cin, cout, 3, stride=2)
        self.skip = EqualConv2d(cin, cout, 1, bias=False, gain=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.leaky_relu(self.conv0(x), 0.2)
        # filter (H -> H - 1), then the 3x3 convolution at stride 2 (-> H / 2)
        y = F.leaky_relu(self.conv1(blur(y)), 0.2)
        return (self.skip(down2(x)) + y) * (1 / SQRT2)


class _DiscriminatorEpilogue(nn.Module):
    """What both discriminators end with, on 4x4 features of ``c`` channels: minibatch
    stddev, conv3x3, a dense layer and a linear output. Subclasses set ``body(x)``."""

    def _epilogue(self, c: int, mbstd_group: int, resolution: int) -> None:
        self.mbstd = MinibatchStd(mbstd_group)
        self.conv = EqualConv2d(c + 1, c, 3)
        self.fc = EqualLinear(c * 16, c)
        self.out = EqualLinear(c, 1, gain=1.0)
        self.resolution = resolution

    def body(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            raise ValueError(f"discriminator expects {self.resolution}x{self.resolution} "
                             f"images, got {tuple(x.shape)}")
        x = self.body(x)
        x = F.leaky_relu(self.conv(self.mbstd(x)), 0.2)
        x = F.leaky_relu(self.fc(x.flatten(1)), 0.2)
        return self.out(x).squeeze(1)


class ResidualDiscriminator(_DiscriminatorEpilogue):
    """images (N, C, R, R) -> logits (N,): fromRGB, residual blocks down to 4x4, then
    minibatch stddev, conv3x3, a dense layer and a linear output."""

    def __init__(self, channels: int, resolution: int, ch, mbstd_group: int = 4):
        super().__init__()
        self.from_rgb = EqualConv2d(channels, ch(resolution), 1)
        blocks, res = [], resolution
        while res > 4:
            blocks.append(DBlock(ch(res), ch(res // 2)))
            res //= 2
        self.blocks = nn.Sequential(*blocks)
        self._epilogue(ch(4), mbstd_group, resolution)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(F.leaky_relu(self.from_rgb(x), 0.2))


class StridedDiscriminator(_DiscriminatorEpilogue):
    """images (N, C, R, R) -> logits (N,): DCGAN's body (Radford et al. 2016: 4x4
    convolutions at stride 2, each halving the resolution, leaky ReLU 0.2, no normalisation),
    with equalized learning rate, ``ch(r)`` maps at output resolution r, then the residual
    D's epilogue. No full-resolution 3x3 convolution and no filtering: at 64x64 with DCGAN's
    widths (32 maps at 32x32 ... 256 at 4x4) a pass costs about half of a residual D's with
    16 maps at 64x64 ... 64 at 4x4 (benchmarks/faces/RESULTS.md, Session 12)."""

    def __init__(self, channels: int, resolution: int, ch, mbstd_group: int = 4):
        super().__init__()
        convs, res, cin = [], resolution, channels
        while res > 4:
            res //= 2
            convs.append(EqualConv2d(cin, ch(res), 4, padding=1, stride=2))
            cin = ch(res)
        self.convs = nn.ModuleList(convs)
        self._epilogue(ch(4), mbstd_group, resolution)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        return x


class Generator(nn.Module):
    """z (N, z_dim) -> images (N, C, R, R) through w = f(z) (the mapping network of
    :mod:`gankit.nn.style`) and the skip synthesis network.

    ``forward`` options (as StyleGAN's generator): ``psi``/``cutoff`` (truncation of the first
    ``cutoff`` style inputs towards ``w_avg``), ``mix_z`` with ``mix_mask`` (bool, N x num_ws or
    num_ws: the style inputs that take f(mix_z)), ``noise_mode`` (const, random, off) or
    explicit per-layer ``noises``, ``w_avg_beta`` (update ``w_avg`` with this decay).
    """

    def __init__(self, z_dim: int, w_dim: int, channels: int, resolution: int, ch,
                 mapping_layers: int = 8, mapping_lr_mul: float = 0.01,
                 noise_lr_mul: float = 1.0, noise_max_res: int = 0,
                 architecture: str = "skip", input_mode: str = "const"):
        super().__init__()
        self.z_dim, self.w_dim = z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul)
        self.synthesis = SynthesisNetwork(w_dim, channels, resolution, ch, noise_lr_mul,
                                          noise_max_res, architecture, input_mode)
        self.num_ws = self.synthesis.num_ws
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def ws(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None,
           mix_z: torch.Tensor | None = None, mix_mask: torch.Tensor | None = None,
           w_avg_beta: float | None = None) -> torch.Tensor:
        """The style inputs (N, num_ws, w_dim) for ``z``, with mixing and truncation."""
        w = self.mapping(z)
        if w_avg_beta is not None:
            with torch.no_grad():  # the running mean of w, for truncation
                self.w_avg.copy_(w.detach().mean(0).to(self.w_avg.dtype).lerp(self.w_avg,
                                                                              w_avg_beta))
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        if mix_z is not None:
            w2 = self.mapping(mix_z).unsqueeze(1).expand(-1, self.num_ws, -1)
            ws = torch.where(mix_mask.to(ws.device).view(-1, self.num_ws, 1), w2, ws)
        if psi != 1.0:
            n = self.num_ws if cutoff is None else min(int(cutoff), self.num_ws)
            trunc = torch.arange(self.num_ws, device=ws.device).view(1, -1, 1) < n
            ws = torch.where(trunc, self.w_avg.to(ws.dtype).lerp(ws, psi), ws)
        return ws

    def forward(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None,
                mix_z: torch.Tensor | None = None, mix_mask: torch.Tensor | None = None,
                noise_mode: str = "const", noises=None,
                w_avg_beta: float | None = None) -> torch.Tensor:
        ws = self.ws(z, psi, cutoff, mix_z, mix_mask, w_avg_beta)
        return self.synthesis(ws, noises, noise_mode)
