"""pix2pix (Isola et al., CVPR 2017): the model, its losses and its learning-rate schedule."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from gankit.config import ModelConfig, TrainConfig, opt
from gankit.data.base import DataInfo
from gankit.errors import ConfigError, GankitError
from gankit.losses.adversarial import target_loss
from gankit.models.base import GANModel, Phase, anneal_last
from gankit.nn.translation import (NORMS, PatchDiscriminator, ResnetGenerator, UNetGenerator,
                                   check_images, fit_patch_layers)
from gankit.utils.images import triplet_grid
from gankit.registry import MODELS


@MODELS.register("pix2pix")
class Pix2Pix(GANModel):
    """pix2pix: paired image-to-image translation, U-Net + 70x70 PatchGAN + L1 (Isola 2017).

    Given aligned pairs (x, y) = (A, B), a generator G: x -> y and a conditional discriminator D
    that sees the input together with an output, concatenated along channels:

        L_cGAN(G, D) = E_{x,y}[log D(x, y)] + E_x[log(1 - D(x, G(x)))]
        L_L1(G)      = E_{x,y}[ ||y - G(x)||_1 ]
        G* = arg min_G max_D  L_cGAN(G, D) + lambda * L_L1(G),      lambda = 100

    The generator is a U-Net (skip connections between mirrored encoder/decoder layers; dropout
    is the only noise, there is no z), the discriminator a 70 x 70 PatchGAN: it classifies each
    overlapping 70 x 70 patch as real or fake, so it models high frequencies only, and L1 keeps
    the low frequencies right. G is trained with the non-saturating loss -log D(x, G(x)) and the
    D objective is halved, as in the paper ("we divide the objective by 2 while optimizing D").

    ``adv_weight = 0`` gives the paper's *L1-only* baseline: the same U-Net trained with L1 alone
    (no discriminator is built). The paper's finding is that L1 alone gives blurry, averaged
    outputs, while L1 + cGAN gives sharper, more realistic ones at a slightly higher L1.

    Learning rate: constant for the first ``decay_start`` fraction of training, then linear decay
    to zero (the reference implementation's schedule: 100 epochs constant + 100 decaying).
    """

    @dataclass
    class Config(ModelConfig):
        name: str = opt("pix2pix", "registered model name")
        generator: str = opt("unet", "generator: U-Net (pix2pix) or ResNet blocks",
                             choices=("unet", "resnet"))
        ngf: int = opt(64, "generator width (channels of the first layer)", min=1)
        ndf: int = opt(64, "discriminator width (channels of the first layer)", min=1)
        n_layers_d: int = opt(3, "PatchGAN depth: 3 = 70x70 patches, 1 = 16x16, 0 = pixels",
                              min=0, max=6)
        n_blocks: int = opt(9, "residual blocks when generator=resnet", min=0)
        norm: str = opt("batch", "normalisation in G and D", choices=NORMS)
        dropout: float = opt(0.5, "dropout in the U-Net's 3 innermost decoder layers (the "
                                  "noise source)", min=0.0, max=1.0)
        lambda_l1: float = opt(100.0, "weight of the L1 reconstruction loss", min=0.0)
        adv_weight: float = opt(1.0, "weight of the adversarial loss; 0 = L1-only U-Net "
                                     "baseline (no discriminator)", min=0.0)
        gan_loss: str = opt("vanilla", "adversarial loss: vanilla (BCE) or lsgan",
                            choices=("vanilla", "lsgan"))
        decay_start: float = opt(0.5, "fraction of training at constant LR before the linear "
                                      "decay to zero (1 = no decay)", min=0.0, max=1.0)

    data_kinds = ("paired",)
    capabilities = frozenset({"translate"})
    generator_nets = ("G",)
    contract_overrides = {"ngf": 8, "ndf": 8}
    contract_data = {"dataset": "synthetic-paired:16", "resolution": 32, "channels": 3}

    def __init__(self, cfg: Config, info: DataInfo):
        super().__init__(cfg, info)
        c, r = info.channels, info.resolution
        if cfg.generator == "unet":
            if r < 8 or r & (r - 1):
                raise ConfigError(f"the U-Net generator needs a power-of-two resolution >= 8, "
                                  f"got {r}; set data.resolution (e.g. 128 or 256)")
            self.nets["G"] = UNetGenerator(c, c, r, cfg.ngf, cfg.norm, cfg.dropout)
        else:
            if r % 4:
                raise ConfigError(f"the ResNet generator needs a resolution divisible by 4, "
                                  f"got {r}")
            self.nets["G"] = ResnetGenerator(c, c, cfg.ngf, cfg.n_blocks, cfg.norm)
        if cfg.adv_weight > 0:
            n_layers = fit_patch_layers(r, cfg.n_layers_d)
            self.nets["D"] = PatchDiscriminator(2 * c, cfg.ndf, n_layers, cfg.norm)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None

    # ------------------------------------------------------------------ training
    def phases(self, train: TrainConfig) -> list[Phase]:
        # G first, then D. D's fake pairs are the (input, output) pairs G made in this step's G
        # phase (detached), so each step runs the generator forward once, not twice; D's real
        # pairs come from the batch it is given. Either way both terms of D's objective are
        # minibatch estimates over (x, y) pairs, which is all the objective asks.
        if "D" not in self.nets:
            return [Phase("G", ("G",))]
        return [Phase("G", ("G",)), Phase("D", ("D",))]

    def lr_factor(self, step: int, total_steps: int) -> float:
        return anneal_last(step, total_steps, 1.0 - self.cfg.decay_start)

    def loss(self, phase: str, batch: Mapping[str, torch.Tensor],
             nets: Mapping[str, nn.Module]):
        real_a, real_b = batch["A"], batch["B"]
        cfg = self.cfg
        if phase == "G":
            fake_b = nets["G"](real_a)
            self._cache = (real_a, fake_b.detach())
            l1 = (fake_b.float() - real_b.float()).abs().mean()
            logs = {"l1": l1.detach()}
            total = cfg.lambda_l1 * l1
            if "D" in nets:
                adv = target_loss(nets["D"](torch.cat([real_a, fake_b], 1)), True, cfg.gan_loss)
                total = total + cfg.adv_weight * adv
                logs["g_adv"] = adv.detach()
            return total, logs  # the trainer logs the total as loss_g
        if phase == "D":
            if self._cache is not None:
                fake_a, fake_b = self._cache
            else:  # D phase run on its own (e.g. a custom phase order): make the fake here
                with torch.no_grad():
                    fake_a, fake_b = real_a, nets["G"](real_a)
            self._cache = None
            d_real = target_loss(nets["D"](torch.cat([real_a, real_b], 1)), True, cfg.gan_loss)
            d_fake = target_loss(nets["D"](torch.cat([fake_a, fake_b], 1)), False, cfg.gan_loss)
            total = 0.5 * (d_real + d_fake)
            # the two halves of D's loss (D's outputs themselves are not logged: d_output
            # None); the trainer logs the total as loss_d
            return total, {"loss_d_real": d_real.detach(), "loss_d_fake": d_fake.detach()}
        raise ValueError(f"pix2pix has phases G and D, not {phase!r}")

    # ------------------------------------------------------------------ using it
    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Translate images (N x C x R x R in [-1, 1]) from A to B; pix2pix has one direction."""
        if direction != "AtoB":
            raise GankitError("pix2pix learns one direction (A -> B of its training data); "
                              "train with data.dataset=...?direction=BtoA for the other one")
        # the U-Net halves the size log2(resolution) times down to its 1 x 1 bottleneck
        check_images(x, self.info.channels, "pix2pix.translate", self.nets["G"].resolution)
        return self.nets["G"](x)

    def generate(self, z, labels=None, G=None, **options):
        raise GankitError("pix2pix translates images and has no latent space to sample; use "
                          "`gankit translate RUN INPUT --out FOLDER`")

    preview_nrow = 3  # training sample grids: input | output | target per row

    def preview(self, z, labels, batch, gens, chunk: int = 64) -> torch.Tensor:
        """Sample-grid images: rows of input | output | target for up to 8 fixed examples."""
        a = batch["A"][:8]
        return triplet_grid([a, gens["G"](a), batch["B"][:8]])
