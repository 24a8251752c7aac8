r"""Class-conditional GAN (Mirza & Osindero 2014) with a projection discriminator option.

G and D both see the class label :math:`y`:

.. math::
    \min_G \max_D \; E_{x,y \sim p_{data}}[\log D(x, y)]
                   + E_{z, y \sim p(y)}[\log(1 - D(G(z, y), y))]

(or any registered loss: ``model.loss=hinge`` etc.). Conditioning:

* G (``g_cond``): ``embedding`` concatenates a learned class embedding to z; ``onehot``
  concatenates the one-hot label (the original cGAN).
* D (``d_cond``): ``projection`` (Miyato & Koyama 2018) scores
  :math:`D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x) \rangle` — the inner product of a
  class embedding with D's features, which is the form the optimal log density ratio takes;
  ``channels`` appends the one-hot label as constant image channels to D's input (the
  original cGAN's "class channels").

Networks: DCGAN-style. G maps [z, c] through a linear layer to 4x upsampling start maps,
then two stride-2 transposed convolutions (BN + ReLU) to C x R x R with tanh. D: two stride-2
convolutions (LeakyReLU 0.2), flatten, features :math:`\phi(x)`. Works for R divisible by 4
(MNIST 28, CIFAR 32). Fake labels in training are drawn uniformly at random.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import ModelConfig, opt
from gankit.errors import ConfigError
from gankit.losses.penalties import gradient_penalty, r1_penalty, spectral_norm
from gankit.models.base import GANModel, Phase
from gankit.registry import LOSSES, MODELS


class CondGenerator(nn.Module):
    def __init__(self, z_dim: int, num_classes: int, channels: int, resolution: int,
                 ngf: int, embed_dim: int, cond: str):
        super().__init__()
        self.num_classes, self.cond = num_classes, cond
        if cond == "embedding":
            self.embed = nn.Embedding(num_classes, embed_dim)
            c_dim = embed_dim
        else:
            self.embed = None
            c_dim = num_classes
        self.start = resolution // 4
        self.ngf = ngf
        self.fc = nn.Sequential(nn.Linear(z_dim + c_dim, 2 * ngf * self.start ** 2),
                                nn.BatchNorm1d(2 * ngf * self.start ** 2), nn.ReLU(True))
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * ngf, ngf, 4, 2, 1), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, channels, 4, 2, 1), nn.Tanh())

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        c = (self.embed(labels) if self.embed is not None
             else F.one_hot(labels, self.num_classes).to(z.dtype))
        h = self.fc(torch.cat([z, c], 1)).view(-1, 2 * self.ngf, self.start, self.start)
        return self.up(h)


class CondDiscriminator(nn.Module):
    def __init__(self, num_classes: int, channels: int, resolution: int, ndf: int, cond: str):
        super().__init__()
        self.num_classes, self.cond = num_classes, cond
        in_ch = channels + (num_classes if cond == "channels" else 0)
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, 2 * ndf, 4, 2, 1), nn.LeakyReLU(0.2, True), nn.Flatten())
        feat = 2 * ndf * (resolution // 4) ** 2
        self.out = nn.Linear(feat, 1)
        self.embed = nn.Embedding(num_classes, feat) if cond == "projection" else None

    def features(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.cond == "channels":
            onehot = F.one_hot(labels, self.num_classes).to(x.dtype)
            x = torch.cat([x, onehot[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        return self.conv(x)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.features(x, labels)
        logits = self.out(h).squeeze(1)
        if self.embed is not None:
            logits = logits + (self.embed(labels) * h).sum(1)
        return logits


@MODELS.register("cgan")
class CGAN(GANModel):
    """Class-conditional GAN: see the module docstring for the maths."""

    @dataclass
    class Config(ModelConfig):
        name: str = opt("cgan", "registered model name")
        z_dim: int = opt(64, "latent size", min=1)
        ngf: int = opt(64, "generator width (channels of the last hidden layer)", min=1)
        ndf: int = opt(64, "discriminator width (channels of the first layer)", min=1)
        g_cond: str = opt("embedding", "how G sees the class: learned embedding or one-hot",
                          choices=("embedding", "onehot"))
        d_cond: str = opt("projection", "how D sees the class: projection (inner product with "
                                        "a class embedding) or one-hot input channels",
                          choices=("projection", "channels"))
        embed_dim: int = opt(32, "size of G's class embedding (g_cond=embedding)", min=1)
        loss: str = opt("bce", "adversarial loss by name (bce, lsgan, wasserstein, hinge)")
        penalty: str = opt("none", "D regularizer: none, gp (WGAN-GP on interpolates, "
                                   "same labels) or r1 (on reals)", choices=("none", "gp", "r1"))
        gp_weight: float = opt(10.0, "weight lambda of the gradient penalty", min=0.0)
        r1_gamma: float = opt(10.0, "R1 weight gamma (the loss adds gamma/2 * R1)", min=0.0)
        spectral_norm: bool = opt(False, "spectrally normalise every layer of D")

    data_kinds = ("image",)
    needs_labels = True
    capabilities = frozenset({"sample", "conditional"})
    contract_overrides = {"z_dim": 8, "ngf": 8, "ndf": 8, "embed_dim": 4}

    def __init__(self, cfg: Config, info):
        super().__init__(cfg, info)
        if info.resolution % 4:
            raise ConfigError(f"cgan needs an image size divisible by 4, got {info.resolution} "
                              f"(set data.resolution, e.g. 28 or 32)")
        self.adv = LOSSES.get(cfg.loss)()
        k = info.num_classes
        self.nets["G"] = CondGenerator(cfg.z_dim, k, info.channels, info.resolution, cfg.ngf,
                                       cfg.embed_dim, cfg.g_cond)
        D = CondDiscriminator(k, info.channels, info.resolution, cfg.ndf, cfg.d_cond)
        self.nets["D"] = spectral_norm(D) if cfg.spectral_norm else D
        self.double_backward = cfg.penalty != "none"

    def _fake(self, G, n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.noise.randn(n, self.cfg.z_dim).to(device)
        # uniform random classes from the seeded noise source (reproducible, DDP-consistent)
        y = (self.noise.rand(n) * self.info.num_classes).long().clamp_(
            max=self.info.num_classes - 1).to(device)
        return G(z, y), y

    def loss(self, phase, batch, nets):
        G, D = nets["G"], nets["D"]
        real, labels = batch["real"], batch["label"]
        n = real.shape[0]
        if phase == "D":
            with torch.no_grad():
                fake, fake_y = self._fake(G, n, real.device)
            if self.cfg.penalty == "r1":
                real = real.detach().requires_grad_(True)
            real_logits = D(real, labels)
            fake_logits = D(fake, fake_y)
            loss, logs = self.adv.d_loss(real_logits, fake_logits)
            if self.cfg.penalty == "gp":
                # interpolate between a real and a fake of the same class: draw fakes for the
                # real labels, so the critic is evaluated along class-consistent lines
                with torch.no_grad():
                    fake_same = G(self.noise.randn(n, self.cfg.z_dim).to(real.device), labels)
                alpha = self.noise.rand(n).to(real.device)
                gp = gradient_penalty(lambda x: D(x, labels), real, fake_same, alpha)
                loss = loss + self.cfg.gp_weight * gp
                logs["gp"] = gp.detach()
            elif self.cfg.penalty == "r1":
                r1 = r1_penalty(real_logits, real)
                loss = loss + 0.5 * self.cfg.r1_gamma * r1
                logs["r1"] = r1.detach()
            return loss, {f"D/{k}": v for k, v in logs.items()}
        if phase == "G":
            fake, fake_y = self._fake(G, n, real.device)
            loss, logs = self.adv.g_loss(D(fake, fake_y))
            return loss, {f"G/{k}": v for k, v in logs.items()}
        raise ValueError(f"cgan has no phase {phase!r}")

    def phases(self, train):
        return [Phase("D", ("D",), train.d_steps), Phase("G", ("G",), 1)]

    def generate(self, z, labels=None, G=None, **options):
        G = self.nets["G"] if G is None else G
        if labels is None:
            raise ConfigError("cgan is class-conditional: pass labels (gankit sample --class K)")
        labels = labels.to(z.device).long()
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.info.num_classes):
            raise ConfigError(f"class labels must be in 0..{self.info.num_classes - 1}")
        return G(z, labels)
