"""Image-to-image networks: U-Net and ResNet-block generators, the 70x70 PatchGAN.

Shapes: every network maps float N x C x H x W in [-1, 1] to the same spatial size.

* :class:`UNetGenerator` (pix2pix, Isola et al. 2017): an encoder C64-C128-C256-C512-...
  down to 1 x 1 and a mirror decoder; layer ``i`` of the encoder is concatenated onto layer
  ``n - i`` of the decoder (skip connections carry low-level detail such as edge positions
  straight across). Dropout (p = 0.5) in the three innermost decoder layers, kept on at test
  time too in the paper, is the only noise source; here it follows ``train()``/``eval()``.
* :class:`ResnetGenerator` (CycleGAN, Zhu et al. 2017, after Johnson et al. 2016):
  c7s1-64, d128, d256, R256 x n_blocks, u128, u64, c7s1-3, with reflection padding (no zero
  border for the discriminator to spot) and instance norm.
* :class:`PatchDiscriminator`: C64-C128-C256-C512 (4 x 4 convs, stride 2, 2, 2, 1) then a
  1-channel conv; each output logit sees a 70 x 70 receptive field, so D judges local texture
  and L1 (or the cycle loss) takes care of low frequencies.

``norm`` is ``"instance"`` (affine-free, the CycleGAN default), ``"batch"`` (pix2pix's
default) or ``"none"``. Weights are initialised N(0, 0.02), norms' scales N(1, 0.02).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from gankit.errors import GankitError

NORMS = ("instance", "batch", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


def init_weights(module: nn.Module, std: float = 0.02) -> None:
    """pix2pix/CycleGAN initialisation: conv weights N(0, std), biases 0, norm scales N(1, std)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)


class UNetBlock(nn.Module):
    """One encoder/decoder level: down(x) -> inner -> up, output concat(x, up(...)).

    The outermost level returns only the decoder output (tanh), without the skip.
    """

    def __init__(self, outer: int, inner: int, in_ch: int | None = None,
                 sub: nn.Module | None = None, outermost: bool = False,
                 innermost: bool = False, norm: str = "batch", dropout: float = 0.0,
                 out_ch: int | None = None):
        super().__init__()
        self.outermost = outermost
        in_ch = outer if in_ch is None else in_ch
        bias = norm != "batch"  # batch norm has its own shift
        down = nn.Conv2d(in_ch, inner, 4, 2, 1, bias=bias)
        if outermost:
            up = nn.ConvTranspose2d(inner * 2, out_ch or outer, 4, 2, 1)
            layers = [down, sub, nn.ReLU(True), up, nn.Tanh()]
        elif innermost:
            # no norm on the 1 x 1 bottleneck: instance norm of one pixel is undefined
            up = nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, nn.ReLU(True), up, norm_layer(norm, outer)]
        else:
            up = nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=bias)
            layers = [nn.LeakyReLU(0.2, True), down, norm_layer(norm, inner), sub,
                      nn.ReLU(True), up, norm_layer(norm, outer)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


class UNetGenerator(nn.Module):
    """U-Net from ``in_ch`` to ``out_ch`` channels at ``resolution`` (a power of two >= 8).

    It has log2(resolution) levels (256 -> 8 as in the paper, 128 -> 7, 32 -> 5) so the
    bottleneck is 1 x 1. Channels: ngf, 2ngf, 4ngf, then 8ngf for every deeper level; dropout
    on the (up to) three innermost decoder levels above the bottleneck.
    """

    def __init__(self, in_ch: int, out_ch: int, resolution: int, ngf: int = 64,
                 norm: str = "batch", dropout: float = 0.5):
        super().__init__()
        levels = int(round(math.log2(resolution)))
        if resolution < 8 or 2 ** levels != resolution:
            raise ValueError(f"U-Net needs a power-of-two resolution >= 8, got {resolution}")
        widths = [ngf * min(2 ** i, 8) for i in range(levels)]  # encoder output per level
        block = UNetBlock(widths[-2], widths[-1], innermost=True, norm=norm)
        for i in range(levels - 2, 0, -1):
            # dropout on the first three decoder layers after the bottleneck, as in the paper
            # (CD512-CD512-CD512-C512-...)
            drop = dropout if i >= levels - 4 else 0.0
            block = UNetBlock(widths[i - 1], widths[i], sub=block, norm=norm, dropout=drop)
        self.model = UNetBlock(out_ch, widths[0], in_ch=in_ch, sub=block, outermost=True,
                               norm=norm, out_ch=out_ch)
        self.in_ch, self.out_ch, self.resolution = in_ch, out_ch, resolution
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResnetBlock(nn.Module):
    """x + conv3(relu(norm(conv3(x)))), reflection-padded (the CycleGAN residual block)."""

    def __init__(self, ch: int, norm: str = "instance", dropout: float = 0.0):
        super().__init__()
        bias = norm != "batch"
        layers = [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), norm_layer(norm, ch),
                  nn.ReLU(True)]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=bias), norm_layer(norm, ch)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """c7s1-ngf, d2ngf, d4ngf, R4ngf x n_blocks, u2ngf, ungf, c7s1-out_ch, tanh.

    The paper uses 6 blocks at 128 x 128 and 9 at 256 x 256. Input sides must be divisible
    by 4 (two stride-2 downsamplings).
    """

    def __init__(self, in_ch: int, out_ch: int, ngf: int = 64, n_blocks: int = 9,
                 norm: str = "instance", dropout: float = 0.0):
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, ngf, 7, bias=bias),
                                   norm_layer(norm, ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(2):
            layers += [nn.Conv2d(ch, ch * 2, 3, 2, 1, bias=bias), norm_layer(norm, ch * 2),
                       nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch, norm, dropout) for _ in range(n_blocks)]
        for _ in range(2):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1, bias=bias),
                       norm_layer(norm, ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, out_ch, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.in_ch, self.out_ch = in_ch, out_ch
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"ResnetGenerator needs sides divisible by 4, got "
                             f"{tuple(x.shape[-2:])}")
        return self.model(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: N x in_ch x H x W -> N x 1 x H' x W' logits (70 x 70 patches for n_layers=3).

    For a conditional D (pix2pix) ``in_ch`` counts the input and output channels
    concatenated. No norm on the first layer, as in the paper.
    """

    def __init__(self, in_ch: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        bias = norm != "batch"
        layers: list[nn.Module] = [nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        mult = 1
        for n in range(1, n_layers + 1):
            prev, mult = mult, min(2 ** n, 8)
            stride = 2 if n < n_layers else 1
            layers += [nn.Conv2d(ndf * prev, ndf * mult, 4, stride, 1, bias=bias),
                       norm_layer(norm, ndf * mult), nn.LeakyReLU(0.2, True)]
        layers.append(nn.Conv2d(ndf * mult, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def receptive_field(n_layers: int = 3) -> int:
    """Receptive field of one PatchGAN output (70 for n_layers=3), from its kernels/strides."""
    specs = [(4, 2)] + [(4, 2 if n < n_layers else 1) for n in range(1, n_layers + 1)] + [(4, 1)]
    rf, jump = 1, 1
    for k, s in specs:
        rf += (k - 1) * jump
        jump *= s
    return rf


def fit_patch_layers(resolution: int, n_layers: int) -> int:
    """The deepest PatchGAN (<= ``n_layers``) whose last normalised map is at least 2 x 2.

    A 70 x 70 PatchGAN needs inputs of 24 px or more; on smaller images (tests, tiny tasks)
    instance norm of a 1 x 1 map is undefined, so fewer layers are used.
    """
    while n_layers > 0 and resolution < 3 * 2 ** n_layers:
        n_layers -= 1
    return n_layers


def check_images(x: torch.Tensor, channels: int, where: str, multiple: int = 1) -> None:
    """Images must be N x channels x H x W with H and W multiples of the generator's stride."""
    if x.dim() != 4 or x.shape[1] != channels:
        raise GankitError(f"{where}: expected images N x {channels} x H x W, "
                          f"got {tuple(x.shape)}")
    if x.shape[2] % multiple or x.shape[3] % multiple:
        raise GankitError(f"{where}: height and width must be multiples of {multiple} for this "
                          f"generator, got {x.shape[2]} x {x.shape[3]}; resize or pad the images "
                          f"first (`gankit translate` resizes to the training resolution, or to "
                          f"--size N)")
