"""The original fully-connected GAN (Goodfellow et al. 2014), sized for MNIST."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import opt
from gankit.errors import ConfigError
from gankit.models._adversarial import AdversarialConfig, AdversarialGAN
from gankit.registry import MODELS


@dataclass
class GANConfig(AdversarialConfig):
    name: str = "gan"
    z_dim: int = opt(64, "size of the latent vector z", min=1)
    g_hidden: list[int] = opt([256, 512, 1024], "generator hidden layer widths", min=1)
    d_hidden: list[int] = opt([1024, 512, 256], "discriminator hidden layer widths", min=1)
    d_dropout: float = opt(0.3, "dropout after each discriminator hidden layer (0 = off)",
                           min=0.0, max=0.9)
    slope: float = opt(0.2, "LeakyReLU negative slope of G and D (0 = ReLU)", min=0.0, max=1.0)
    g_slope: float = opt(-1.0, "LeakyReLU negative slope of G only (-1 = model.slope)",
                         min=-1.0, max=1.0)
    d_slope: float = opt(-1.0, "LeakyReLU negative slope of D only (-1 = model.slope)",
                         min=-1.0, max=1.0)
    g_norm: str = opt("none", "normalisation after each of G's hidden layers: none or batch "
                              "(the course's generator blocks: Linear, BatchNorm, activation)",
                      choices=("none", "batch"))
    info_codes: int = opt(0, "InfoGAN (Chen et al. 2016) categorical code: the first latent "
                             "coordinate is cut, through the normal CDF, into this many equally "
                             "likely codes that G reads one-hot, and a head on D's last hidden "
                             "layer must tell the code of each fake back (cross-entropy in both "
                             "nets' losses), so G cannot ignore it: each code draws its own "
                             "region (0 = off; needs model.z_dim >= 2)", min=0)
    info_weight: float = opt(1.0, "weight lambda of the InfoGAN code loss", min=0.0)
    info_g_stop: float = opt(0.0, "G stops taking the code loss after this fraction of the run "
                                  "(Q keeps learning it; 0 = never stops)", min=0.0, max=1.0)

    def slopes(self) -> tuple[float, float]:
        """(G's, D's) negative slope: the per-net value where set, else the shared ``slope``."""
        for name in ("g_slope", "d_slope"):
            v = getattr(self, name)
            if v != -1.0 and v < 0:
                raise ConfigError(f"model.{name}={v}: a LeakyReLU slope is in [0, 1], or -1 to "
                                  f"use model.slope")
        return (self.slope if self.g_slope == -1.0 else self.g_slope,
                self.slope if self.d_slope == -1.0 else self.d_slope)


def _mlp(sizes: list[int], slope: float, dropout: float = 0.0,
         norm: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(a, b))
        if norm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(nn.LeakyReLU(slope))
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


def latent_codes(z: torch.Tensor, codes: int) -> torch.Tensor:
    """The categorical code (0 .. codes-1) of each latent: its first coordinate through the
    normal CDF, cut into ``codes`` equal bins, so z ~ N(0, I) gives equally likely codes."""
    u = 0.5 * (1.0 + torch.erf(z[:, 0] / math.sqrt(2.0)))
    return (u * codes).long().clamp_(0, codes - 1)


class MLPGenerator(nn.Module):
    """z (N x z_dim) -> x (N x C x H x W, or N x dim for point data) in tanh range.

    With ``codes`` > 0, G reads z's first coordinate as a one-hot code (``latent_codes``)
    beside the other z_dim - 1 coordinates."""

    def __init__(self, z_dim: int, hidden: list[int], out_shape: tuple[int, ...], slope: float,
                 tanh: bool = True, norm: bool = False, codes: int = 0):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.codes = codes
        out = math.prod(self.out_shape)
        z_in = z_dim - 1 + codes if codes else z_dim
        layers = _mlp([z_in, *hidden], slope, norm=norm) + [
            nn.Linear(hidden[-1] if hidden else z_dim, out)]
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.codes:
            onehot = F.one_hot(latent_codes(z, self.codes), self.codes).to(z.dtype)
            return self.net(torch.cat([onehot, z[:, 1:]], 1)).view(z.shape[0], *self.out_shape)
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """x -> one logit per example (no sigmoid: losses work on logits)."""

    def __init__(self, in_features: int, hidden: list[int], slope: float, dropout: float,
                 codes: int = 0):
        super().__init__()
        width = hidden[-1] if hidden else in_features
        self.net = nn.Sequential(*_mlp([in_features, *hidden], slope, dropout),
                                 nn.Linear(width, 1))
        if codes:  # InfoGAN's Q head, on the features D's logit reads
            self.q = nn.Linear(width, codes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)

    def code_logits(self, x: torch.Tensor) -> torch.Tensor:
        """InfoGAN's Q: logits over the latent codes for each x (needs ``codes`` > 0)."""
        return self.q(self.net[:-1](x.flatten(1)))


@MODELS.register("gan")
class GAN(AdversarialGAN):
    r"""Fully-connected GAN.

    G: :math:`z \sim \mathcal{N}(0, I) \to` Linear-LeakyReLU stack :math:`\to` tanh image.
    D: image :math:`\to` Linear-LeakyReLU(-Dropout) stack :math:`\to` logit.
    The minimax game :math:`\min_G \max_D \mathbb{E}_x[\log D(x)] + \mathbb{E}_z[\log(1-D(G(z)))]`
    is trained with the loss named in ``model.loss`` (default: BCE on logits, non-saturating G).
    Dropout in D (Goodfellow et al. used it in the maxout D) keeps D from memorising early.
    Also trains on 2-D point data (``ring8``, ``grid25``): then G has a linear output.
    ``slope`` sets both nets' LeakyReLU slope; ``g_slope`` / ``d_slope`` override one net, e.g.
    a ReLU G with a LeakyReLU(0.2) D, which on ``grid25`` kept the inner modes that a ReLU D
    lost (benchmarks/modes/RESULTS.md).
    ``info_codes`` = K adds InfoGAN's categorical code (Chen et al. 2016): G reads z's first
    coordinate as one of K equally likely codes, and a head Q on D's last hidden layer must
    recover it from the fakes, so that each code draws its own region; on ``ring8`` with K = 8
    the latent is then as disconnected as the data and G needs no trail between modes.
    ``info_g_stop`` ends G's share of the code loss after that fraction of the run (Q keeps
    learning it), a screen of benchmarks/modes/RESULTS.md (session 12).
    """

    Config = GANConfig
    data_kinds = ("image", "points")
    contract_overrides = {"g_hidden": [32], "d_hidden": [32], "z_dim": 8}

    def __init__(self, cfg: GANConfig, info):
        super().__init__(cfg, info)
        if info.kind == "points":
            shape: tuple[int, ...] = (info.dim,)
        else:
            shape = (info.channels, info.resolution, info.resolution)
        g_slope, d_slope = cfg.slopes()
        if cfg.info_codes and (cfg.z_dim < 2 or cfg.pack > 1):
            raise ConfigError(f"model.info_codes={cfg.info_codes} needs model.z_dim >= 2 (the "
                              f"code takes one coordinate) and model.pack=1")
        self.nets["G"] = MLPGenerator(cfg.z_dim, list(cfg.g_hidden), shape, g_slope,
                                      tanh=info.kind != "points", norm=cfg.g_norm == "batch",
                                      codes=cfg.info_codes)
        # (PacGAN: D reads cfg.pack samples side by side)
        self.nets["D"] = MLPDiscriminator(math.prod(shape) * cfg.pack, list(cfg.d_hidden),
                                          d_slope, cfg.d_dropout, codes=cfg.info_codes)

    _info: tuple | None = None  # (z, G(z)) of the step's last fakes, for the code loss

    def _nets(self, nets, y):
        G, D = super()._nets(nets, y)
        if not self.cfg.info_codes:
            return G, D

        def G_seen(z):  # the base class draws z inside loss(): keep it with its fakes
            x = G(z)
            self._info = (z, x)
            return x
        return G_seen, D

    def loss(self, phase, batch, nets):
        loss, logs = super().loss(phase, batch, nets)
        if self.cfg.info_codes and self._info is not None:
            # InfoGAN's L_I on the fakes: Q (and D's trunk) learn it in the D phases, G in the
            # G phase through the same fakes, so every code must draw something Q can tell apart
            z, x = self._info
            weight = self.cfg.info_weight
            if phase in ("D", "Dr1"):
                x = x.detach()
            else:
                self._info = None
                if self.cfg.info_g_stop and self._step >= self.cfg.info_g_stop * self._steps:
                    weight = 0.0
            ce = F.cross_entropy(nets["D"].code_logits(x), latent_codes(z, self.cfg.info_codes))
            loss = loss + weight * ce
            logs["info"] = ce.detach()
        return loss, logs

    def on_step_start(self, step: int, images_seen: int) -> None:
        super().on_step_start(step, images_seen)
        self._info = None
