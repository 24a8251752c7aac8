"""ProGAN: progressive growing of GANs (Karras, Aila, Laine, Lehtinen, ICLR 2018)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import ModelConfig, TrainConfig, opt
from gankit.data.base import DataInfo
from gankit.losses.objectives import WassersteinLoss
from gankit.losses.penalties import drift_penalty, gradient_penalty
from gankit.models.base import GANModel, Phase, check_adam_betas, model_adam
from gankit.nn.equalized import (LRELU_GAIN, EqualConv2d, EqualLinear, PixelNorm, ToRGB,
                                 downsample2x, upsample2x)
from gankit.nn.progressive import (Discriminator, lrelu, channel_rule, internal_resolution,
                                   to_external, to_internal)
from gankit.registry import MODELS


# --------------------------------------------------------------------------- networks
class GBlock(nn.Module):
    """upsample 2x -> conv3x3 -> lrelu -> pixnorm -> conv3x3 -> lrelu -> pixnorm."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1, self.conv2 = EqualConv2d(cin, cout, 3), EqualConv2d(cout, cout, 3)
        self.norm = PixelNorm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(lrelu(self.conv1(upsample2x(x))))
        return self.norm(lrelu(self.conv2(x)))


class Generator(nn.Module):
    """z (N, z_dim) -> images (N, C, 4*2^level, 4*2^level), linear output.

    ``level`` and ``alpha`` default to the growth state stored in the ``growth`` buffer, so a
    saved or exported generator produces what it was last trained to produce.
    """

    def __init__(self, z_dim: int, channels: int, max_level: int, ch):
        super().__init__()
        c0 = ch(4)
        self.z_dim, self.max_level = z_dim, max_level
        self.norm = PixelNorm()
        # the paper's first layer: a dense layer to 4x4 with gain sqrt(2)/4
        self.input = EqualLinear(z_dim, c0 * 16, gain=LRELU_GAIN / 4)
        self.conv0 = EqualConv2d(c0, c0, 3)
        self.blocks = nn.ModuleList(GBlock(ch(4 * 2 ** (i - 1)), ch(4 * 2 ** i))
                                    for i in range(1, max_level + 1))
        self.to_rgb = nn.ModuleList(ToRGB(ch(4 * 2 ** i), channels)
                                    for i in range(max_level + 1))
        self.register_buffer("growth", torch.tensor([float(max_level), 1.0]))

    def forward(self, z: torch.Tensor, level: int | None = None,
                alpha: float | None = None) -> torch.Tensor:
        level = int(self.growth[0]) if level is None else int(level)
        alpha = float(self.growth[1]) if alpha is None else float(alpha)
        x = self.norm(z)
        x = self.norm(lrelu(self.input(x).view(z.shape[0], -1, 4, 4)))
        x = self.norm(lrelu(self.conv0(x)))
        prev = x
        for block in self.blocks[:level]:
            prev, x = x, block(x)
        out = self.to_rgb[level](x)
        if level > 0 and alpha < 1.0:
            # fade-in: blend with the upsampled output of the previous resolution
            skip = upsample2x(self.to_rgb[level - 1](prev))
            out = skip + alpha * (out - skip)
        return out


# --------------------------------------------------------------------------- model
@dataclass
class ProGANConfig(ModelConfig):
    name: str = opt("progan", "registered model name")
    z_dim: int = opt(128, "latent size (z is pixel-normalised, i.e. on a sphere)", min=1)
    fmap_base: int = opt(4096, "feature maps at resolution r are min(fmap_max, fmap_base / r)",
                         min=1)
    fmap_max: int = opt(128, "most feature maps of any layer (the paper uses 512)", min=1)
    fade_images: int = opt(30000, "real images shown while a new resolution fades in "
                                  "(alpha 0 -> 1; the paper uses 800k)", min=1)
    stable_images: int = opt(30000, "real images shown at each resolution after its fade-in "
                                    "(the paper uses 800k); the last resolution trains on",
                             min=0)
    gp_weight: float = opt(10.0, "WGAN-GP penalty weight lambda", min=0.0)
    drift: float = opt(0.001, "drift penalty eps_drift * E[D(x)^2] keeping critic scores "
                              "near 0", min=0.0)
    mbstd_group: int = opt(4, "minibatch standard deviation group size", min=1)
    adam_betas: list[float] = opt([0.0, 0.99], "Adam (beta1, beta2) of G and D as in the "
                                               "paper; [] = use train.beta1/train.beta2")


@MODELS.register("progan")
class ProGAN(GANModel):
    r"""Progressive growing of GANs with WGAN-GP (Karras et al. 2018).

    Training starts with 4x4 images; each new resolution level ``l`` (``4 * 2^l``) is faded in
    over ``fade_images`` real images and then stabilised for ``stable_images``:

    .. math::
        G_l(z) = \alpha \, \mathrm{toRGB}_l(h_l) + (1 - \alpha)\, \mathrm{up}(\mathrm{toRGB}_{l-1}(h_{l-1}))

    and D mirrors it with fromRGB on a 2x average-pooled image. Real images are shown at the
    current resolution, blended the same way: ``x = \alpha x_l + (1-\alpha) up(down(x_l))``.

    Loss (WGAN-GP with drift, section A.1 of the paper):

    .. math::
        L_D = E[D(\tilde x)] - E[D(x)] + \lambda E[(\|\nabla_{\hat x} D(\hat x)\|_2 - 1)^2]
              + \epsilon_{drift} E[D(x)^2],\qquad L_G = -E[D(\tilde x)]

    with ``\hat x`` uniformly between real and fake, ``\lambda = 10``, ``\epsilon_{drift} =
    0.001``. Every layer uses an equalized learning rate, G pixel-normalises each feature
    vector after every conv, D ends with a minibatch-stddev feature; Adam(0, 0.99).

    Growth state (level, alpha, images seen) is a pure function of the real images shown,
    which the trainer passes to :meth:`on_step_start`, and is kept in checkpoints, so a run
    resumed mid-fade continues identically. Image sizes that are not ``4 * 2^k`` are trained
    at the next such size (reals resized up) and generated images are resized back.
    """

    Config = ProGANConfig
    capabilities = frozenset({"sample"})
    double_backward = True
    contract_overrides = {"z_dim": 16, "fmap_base": 64, "fmap_max": 16, "fade_images": 8,
                          "stable_images": 4}

    def __init__(self, cfg: ProGANConfig, info: DataInfo):
        super().__init__(cfg, info)
        check_adam_betas(cfg)
        self.size = internal_resolution(info.resolution)
        self.max_level = int(math.log2(self.size // 4))
        ch = channel_rule(cfg.fmap_base, cfg.fmap_max)
        self.nets["G"] = Generator(cfg.z_dim, info.channels, self.max_level, ch)
        self.nets["D"] = Discriminator(info.channels, self.max_level, ch, cfg.mbstd_group)
        self.images_seen = 0
        self._set_growth(*self.growth_at(0))
        # WGAN-GP's critic loss in D's own dtype (bf16 under autocast, as ProGAN always had);
        # the gradient penalty and the drift term are added below, weighted by the config
        self.adv = WassersteinLoss(float32=False)

    # ------------------------------------------------------------------ growth
    def growth_at(self, images_seen: int) -> tuple[int, float]:
        """(level, alpha) after ``images_seen`` real images: stabilise 4x4, then for each
        level fade in over ``fade_images`` and stabilise for ``stable_images``."""
        fade, stable = self.cfg.fade_images, self.cfg.stable_images
        t = images_seen - stable
        if t < 0:
            return 0, 1.0
        level = t // (fade + stable) + 1
        if level > self.max_level:
            return self.max_level, 1.0
        return int(level), min(1.0, (t % (fade + stable)) / fade)

    def _set_growth(self, level: int, alpha: float) -> None:
        self.level, self.alpha = int(level), float(alpha)
        self.nets["G"].growth.copy_(torch.tensor([float(level), float(alpha)]))

    @property
    def resolution(self) -> int:
        """Current training resolution."""
        return 4 * 2 ** self.level

    def on_step_start(self, step: int, images_seen: int) -> None:
        self.images_seen = int(images_seen)
        self._set_growth(*self.growth_at(self.images_seen))

    def extra_state(self) -> dict[str, Any]:
        return {"level": self.level, "alpha": self.alpha, "images_seen": self.images_seen,
                "resolution": self.resolution}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if not state:
            return
        self.images_seen = int(state.get("images_seen", 0))
        self._set_growth(int(state["level"]), float(state["alpha"]))

    # ------------------------------------------------------------------ training
    def make_optimizer(self, phase: Phase, params: list[nn.Parameter],
                       train: TrainConfig) -> torch.optim.Optimizer:
        return model_adam(self.cfg, phase, params, train)

    def reals_now(self, real: torch.Tensor) -> torch.Tensor:
        """Real images at the current resolution, blended like G's output during a fade."""
        x = to_internal(real, self.size)
        if x.shape[-1] != self.resolution:
            x = F.avg_pool2d(x, x.shape[-1] // self.resolution)
        if self.level > 0 and self.alpha < 1.0:
            low = upsample2x(downsample2x(x))
            x = low + self.alpha * (x - low)
        return x

    def loss(self, phase: str, batch: dict[str, torch.Tensor],
             nets: Mapping[str, nn.Module]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        G, D = nets["G"], nets["D"]
        n = batch["real"].shape[0]
        z = self.noise.randn(n, self.cfg.z_dim)
        level, alpha = self.level, self.alpha
        if phase.startswith("D"):
            real = self.reals_now(batch["real"])
            with torch.no_grad():
                fake = G(z, level, alpha)
            d_real, d_fake = D(real, alpha), D(fake, alpha)
            eps = self.noise.rand(n, 1, 1, 1).to(real.dtype)
            gp = gradient_penalty(lambda x: D(x, alpha), real, fake, eps)
            drift = drift_penalty(d_real)
            critic = self.adv.d_loss(d_real, d_fake)  # E[D(G(z))] - E[D(x)] = -wdist
            loss = critic + self.cfg.gp_weight * gp + self.cfg.drift * drift
            return loss, {"wdist": -critic.detach(), "gp": gp.detach(), "drift": drift.detach(),
                          "resolution": torch.tensor(float(self.resolution)),
                          "alpha": torch.tensor(alpha)}
        loss = self.adv.g_loss(D(G(z, level, alpha), alpha))  # -E[D(G(z))]
        return loss, {"g_score": -loss.detach()}

    # ------------------------------------------------------------------ sampling
    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                 G: nn.Module | None = None, **options: Any) -> torch.Tensor:
        """Images at the data resolution; during growth the current output is upsampled."""
        self.reject_options(options)
        G = self.nets["G"] if G is None else G
        img = G(z, self.level, self.alpha)
        if img.shape[-1] != self.size:
            img = F.interpolate(img, size=(self.size, self.size), mode="nearest")
        # G's output is linear (no tanh, as in the paper): clamp to the image range
        return to_external(img, self.info.resolution).clamp(-1, 1)
