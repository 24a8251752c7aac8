"""StyleGAN: a style-based generator (Karras, Laine, Aila, CVPR 2019)."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from gankit.config import TrainConfig, opt
from gankit.data.base import DataInfo
from gankit.losses.adversarial import LogisticLoss
from gankit.losses.penalties import r1_penalty
from gankit.models._style import StyleConfig, StyleSampling
from gankit.models.base import GANModel, Phase
from gankit.models.base import check_adam_betas, model_adam
from gankit.nn.progressive import Discriminator, channel_rule, internal_resolution, to_internal
from gankit.nn.equalized import EqualConv2d, ToRGB, upsample2x
from gankit.nn.style import AdaIN, MappingNetwork, NoiseInjection, lrelu
from gankit.nn.stylegan2_layers import up2
from gankit.registry import MODELS


class SynthesisLayer(nn.Module):
    """[upsample] -> conv3x3 (or the learned constant) -> noise -> lrelu -> AdaIN(w).

    ``upsample``: ``nearest`` (ProGAN's) or ``bilinear`` (the [1, 3, 3, 1] filter of the
    official code, the paper's configuration B: no blocky 2x2 copies for the convolution to
    turn into a grid). ``const_init``: the constant starts at ``ones`` (the paper) or ``randn``
    (StyleGAN2: the 4x4 layout varies in space from the first step; with ones it is uniform,
    so every spatial pattern first has to come from the zero padding at the borders).
    """

    def __init__(self, cin: int, cout: int, w_dim: int, res: int, up: bool = False,
                 const: bool = False, upsample: str = "nearest", const_init: str = "ones",
                 noise_lr_mul: float = 1.0):
        super().__init__()
        self.up = up
        self.upsample = up2 if upsample == "bilinear" else upsample2x
        if const:
            init = torch.randn if const_init == "randn" else torch.ones
            self.const = nn.Parameter(init(1, cout, res, res))
            self.conv = None
        else:
            self.conv = EqualConv2d(cin, cout, 3)
        self.noise = NoiseInjection(cout, noise_lr_mul)
        self.adain = AdaIN(cout, w_dim)
        # a fixed noise image per layer: with noise="const" a seed always gives the same image
        self.register_buffer("noise_const", torch.randn(1, 1, res, res))

    def forward(self, x: torch.Tensor | None, w: torch.Tensor, noise: torch.Tensor | None,
                mode: str) -> torch.Tensor:
        if self.conv is None:
            x = self.const.expand(w.shape[0], -1, -1, -1)
        else:
            x = self.conv(self.upsample(x) if self.up else x)
        if noise is None and mode == "const":
            noise = self.noise_const
        if noise is not None or mode == "random":
            x = self.noise(x, noise)
        return self.adain(lrelu(x), w)


class StyleGenerator(nn.Module):
    """z (N, z_dim) -> images (N, C, R, R) through w = f(z) and a styled synthesis network.

    ``forward`` options: ``psi`` and ``cutoff`` (truncation of the first ``cutoff`` style
    inputs towards the running mean ``w_avg``), ``mix_z`` with ``mix_mask`` (bool, N x num_ws
    or num_ws: which style inputs take w = f(mix_z)), ``noise_mode`` (const, random, off) or
    explicit per-layer ``noises``, and ``w_avg_beta`` (update ``w_avg`` with this decay).
    """

    def __init__(self, z_dim: int, w_dim: int, channels: int, max_level: int, ch,
                 mapping_layers: int = 8, mapping_lr_mul: float = 0.01,
                 upsample: str = "nearest", const_init: str = "ones",
                 noise_lr_mul: float = 1.0):
        super().__init__()
        self.z_dim, self.w_dim = z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers, mapping_lr_mul)
        nm = noise_lr_mul
        layers = [SynthesisLayer(0, ch(4), w_dim, 4, const=True, const_init=const_init,
                                 noise_lr_mul=nm),
                  SynthesisLayer(ch(4), ch(4), w_dim, 4, noise_lr_mul=nm)]
        for i in range(1, max_level + 1):
            res = 4 * 2 ** i
            layers += [SynthesisLayer(ch(res // 2), ch(res), w_dim, res, up=True,
                                      upsample=upsample, noise_lr_mul=nm),
                       SynthesisLayer(ch(res), ch(res), w_dim, res, noise_lr_mul=nm)]
        self.layers = nn.ModuleList(layers)
        self.to_rgb = ToRGB(ch(4 * 2 ** max_level), channels)
        self.num_ws = len(layers)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None,
                mix_z: torch.Tensor | None = None, mix_mask: torch.Tensor | None = None,
                noise_mode: str = "const", noises: Sequence[torch.Tensor] | None = None,
                w_avg_beta: float | None = None) -> torch.Tensor:
        w = self.mapping(z)
        if w_avg_beta is not None:
            with torch.no_grad():  # running mean of w for the truncation trick
                # (in w_avg's dtype: under bf16 autocast the mapping net's output is bf16)
                w_mean = w.detach().mean(0).to(self.w_avg.dtype)
                self.w_avg.copy_(w_mean.lerp(self.w_avg, w_avg_beta))
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        if mix_z is not None:
            w2 = self.mapping(mix_z).unsqueeze(1).expand(-1, self.num_ws, -1)
            mask = mix_mask.to(ws.device).view(-1, self.num_ws, 1)
            ws = torch.where(mask, w2, ws)
        if psi != 1.0:
            n_trunc = self.num_ws if cutoff is None else min(int(cutoff), self.num_ws)
            trunc = torch.arange(self.num_ws, device=ws.device).view(1, -1, 1) < n_trunc
            ws = torch.where(trunc, self.w_avg.lerp(ws, psi), ws)
        x = None
        for i, layer in enumerate(self.layers):
            x = layer(x, ws[:, i], None if noises is None else noises[i], noise_mode)
        return self.to_rgb(x)


@dataclass
class StyleGANConfig(StyleConfig):
    name: str = opt("stylegan", "registered model name")
    r1_gamma: float = opt(10.0, "R1 weight gamma: L_D += gamma/2 * E||grad D(real)||^2",
                          min=0.0)
    r1_every: int = opt(1, "lazy R1 (StyleGAN2): a Dreg phase every N training steps, "
                           "weighted by N and sharing D's optimizer (lr and betas corrected "
                           "by the trainer); 1 = R1 in every D step's loss", min=1)
    upsample: str = opt("nearest", "G's 2x upsampling: nearest (ProGAN's) or bilinear (the "
                                   "[1, 3, 3, 1] filter, the paper's configuration B)",
                        choices=("nearest", "bilinear"))
    const_init: str = opt("ones", "initial value of the learned 4x4 constant: ones (the "
                                  "paper) or randn (StyleGAN2)", choices=("ones", "randn"))


@MODELS.register("stylegan")
class StyleGAN(StyleSampling, GANModel):
    r"""Style-based generator with a non-saturating loss and R1 (Karras et al. 2019).

    Generator: a mapping network ``w = f(z)`` (8 equalized FC layers, lr x0.01) and a synthesis
    network starting from a learned constant 4x4 input. Every layer ``i`` is
    ``conv -> x + B_i n -> lrelu -> AdaIN(x, A_i(w_i))`` with
    ``AdaIN(x, y) = y_s (x - \mu(x)) / \sigma(x) + y_b`` and ``n ~ N(0, I)`` a noise image.
    Two layers per resolution, so ``num_ws = 2 (log2(R) - 1)`` style inputs.

    Style mixing regularization: with probability ``style_mixing_prob`` an image uses
    ``w_1 = f(z_1)`` for style inputs before a random crossover ``k ~ U{1..num_ws-1}`` and
    ``w_2 = f(z_2)`` after it. Truncation: ``w' = \bar w + \psi (w - \bar w)`` where ``\bar w``
    is the running mean of ``f(z)`` over training (``w_avg`` buffer, decay 0.995).

    Discriminator: the ProGAN one at the full resolution (minibatch stddev, equalized LR).
    Loss (non-saturating logistic with R1, Mescheder et al. 2018):

    .. math::
        L_D = E[\mathrm{softplus}(D(G(z)))] + E[\mathrm{softplus}(-D(x))]
              + \tfrac{\gamma}{2} E[\|\nabla_x D(x)\|^2],\qquad
        L_G = E[\mathrm{softplus}(-D(G(z)))]

    Trains at a fixed resolution (the progressive schedule of the paper is not implemented;
    ProGAN has it). Sampling options: ``psi``, ``truncation_cutoff``, ``mix_z`` with
    ``mix_layers=(start, stop)``, ``noise`` = const | random | off.
    """

    Config = StyleGANConfig
    capabilities = frozenset({"sample", "truncate", "mix"})
    double_backward = True
    d_output = "logit"
    contract_overrides = {"z_dim": 8, "w_dim": 8, "mapping_layers": 2, "fmap_base": 64,
                          "fmap_max": 8}

    def __init__(self, cfg: StyleGANConfig, info: DataInfo):
        super().__init__(cfg, info)
        check_adam_betas(cfg)
        self.size = internal_resolution(info.resolution)
        max_level = int(math.log2(self.size // 4))
        ch = channel_rule(cfg.fmap_base, cfg.fmap_max)
        self.nets["G"] = StyleGenerator(cfg.z_dim, cfg.w_dim, info.channels, max_level, ch,
                                        cfg.mapping_layers, cfg.mapping_lr_mul,
                                        cfg.upsample, cfg.const_init, cfg.noise_lr_mul)
        self.nets["D"] = Discriminator(info.channels, max_level, ch, cfg.mbstd_group)
        self.num_ws = self.nets["G"].num_ws
        self.layer_res = [4 * 2 ** (i // 2) for i in range(self.num_ws)]
        self.adv = LogisticLoss(float32=False)  # in D's own dtype, as StyleGAN always had

    # ------------------------------------------------------------------ training
    def phases(self, train: TrainConfig) -> list[Phase]:
        """D (``train.d_steps`` times), then G; with lazy R1 (``r1_every`` = k > 1) a ``Dreg``
        phase every k steps between them, stepping D's optimizer (stylegan2-ada's Dmain/Dreg)."""
        d = [Phase("D", ("D",), train.d_steps)]
        if self.cfg.r1_every > 1 and self.cfg.r1_gamma > 0:
            d.append(Phase("Dreg", ("D",), interval=self.cfg.r1_every, optimizer="D"))
        return d + [Phase("G", ("G",))]

    def make_optimizer(self, phase: Phase, params: list[nn.Parameter],
                       train: TrainConfig) -> torch.optim.Optimizer:
        return model_adam(self.cfg, phase, params, train)

    def loss(self, phase: str, batch: dict[str, torch.Tensor],
             nets: Mapping[str, nn.Module]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        G, D = nets["G"], nets["D"]
        n = batch["real"].shape[0]
        if phase == "Dreg":  # lazy R1 alone, weighted by its interval (the model's side)
            real = to_internal(batch["real"], self.size).detach().requires_grad_(True)
            r1 = r1_penalty(D(real), real)
            loss = self.cfg.r1_gamma / 2 * self.cfg.r1_every * r1
            return loss, {"r1": r1.detach()}
        inputs = self._training_inputs(n)
        if phase.startswith("D"):
            with torch.no_grad():
                fake = G(**inputs)
            fused = self.cfg.r1_gamma > 0 and self.cfg.r1_every == 1  # R1 in every D loss
            real = to_internal(batch["real"], self.size).detach().requires_grad_(fused)
            d_real, d_fake = D(real), D(fake)
            loss = self.adv.d_loss(d_real, d_fake)
            logs = {"d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach()}
            if fused:
                r1 = r1_penalty(d_real, real)
                loss = loss + self.cfg.r1_gamma / 2 * r1
                logs["r1"] = r1.detach()
            return loss, logs
        fake = G(**inputs, w_avg_beta=self.cfg.w_avg_beta)
        d_fake = D(fake)
        return self.adv.g_loss(d_fake), {"g_score": d_fake.mean().detach()}

