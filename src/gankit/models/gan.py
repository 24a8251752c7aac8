"""The original fully-connected GAN (Goodfellow et al. 2014), sized for MNIST."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
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

    def slopes(self) -> tuple[float, float]:
        """(G's, D's) negative slope: the per-net value where set, else the shared ``slope``."""
        for name in ("g_slope", "d_slope"):
            v = getattr(self, name)
            if v != -1.0 and v < 0:
                raise ConfigError(f"model.{name}={v}: a LeakyReLU slope is in [0, 1], or -1 to "
                                  f"use model.slope")
        return (self.slope if self.g_slope == -1.0 else self.g_slope,
                self.slope if self.d_slope == -1.0 else self.d_slope)


def _mlp(sizes: list[int], slope: float, dropout: float = 0.0, norm: bool = False) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers.append(nn.Linear(a, b))
        if norm:
            layers.append(nn.BatchNorm1d(b))
        layers.append(nn.LeakyReLU(slope))
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


class MLPGenerator(nn.Module):
    """z (N x z_dim) -> x (N x C x H x W, or N x dim for point data) in tanh range."""

    def __init__(self, z_dim: int, hidden: list[int], out_shape: tuple[int, ...], slope: float,
                 tanh: bool = True, norm: bool = False):
        super().__init__()
        self.out_shape = tuple(out_shape)
        out = math.prod(self.out_shape)
        layers = _mlp([z_dim, *hidden], slope, norm=norm) + [
            nn.Linear(hidden[-1] if hidden else z_dim, out)]
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


class MLPDiscriminator(nn.Module):
    """x -> one logit per example (no sigmoid: losses work on logits)."""

    def __init__(self, in_features: int, hidden: list[int], slope: float, dropout: float):
        super().__init__()
        self.net = nn.Sequential(*_mlp([in_features, *hidden], slope, dropout),
                                 nn.Linear(hidden[-1] if hidden else in_features, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).squeeze(1)


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
        self.nets["G"] = MLPGenerator(cfg.z_dim, list(cfg.g_hidden), shape, g_slope,
                                      tanh=info.kind != "points", norm=cfg.g_norm == "batch")
        # (PacGAN: D reads cfg.pack samples side by side)
        self.nets["D"] = MLPDiscriminator(math.prod(shape) * cfg.pack, list(cfg.d_hidden),
                                          d_slope, cfg.d_dropout)
