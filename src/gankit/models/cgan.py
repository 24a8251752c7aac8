r"""Class-conditional GAN (Mirza & Osindero 2014) with a projection discriminator option.

G and D both see the class label :math:`y`:

.. math::
    \min_G \max_D \; E_{x,y \sim p_{data}}[\log D(x, y)]
                   + E_{z, y \sim p(y)}[\log(1 - D(G(z, y), y))]

(or any registered loss: ``model.loss=hinge`` etc.; fakes are generated for the real
batch's labels, so :math:`p(y)` is the data's). Conditioning:

* G (``g_cond``): ``embedding`` concatenates a learned class embedding to z; ``onehot``
  concatenates the one-hot label (the original cGAN). ``cond_bn`` also makes every batch norm
  of G class-conditional: :math:`\gamma_y \hat h + \beta_y` (de Vries et al. 2017, the G of
  Miyato & Koyama), so the label reaches every layer.
* D (``d_cond``): ``projection`` (Miyato & Koyama 2018) scores
  :math:`D(x, y) = \psi(\phi(x)) + \langle e_y, \phi(x) \rangle` — the inner product of a
  class embedding with D's features, which is the form the optimal log density ratio takes;
  ``channels`` appends the one-hot label as constant image channels to D's input (the
  original cGAN's "class channels").

Networks: DCGAN-style. G maps [z, c] through a linear layer to 4x upsampling start maps,
then two stride-2 transposed convolutions (BN + ReLU) to C x R x R with tanh. D: two stride-2
convolutions (LeakyReLU 0.2), flatten, features :math:`\phi(x)`. Works for R divisible by 4
(MNIST 28, CIFAR 32).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import opt
from gankit.errors import ConfigError
from gankit.models._adversarial import AdversarialConfig, AdversarialGAN
from gankit.nn.conditional import CondBatchNorm
from gankit.registry import MODELS


class CondGenerator(nn.Module):
    def __init__(self, z_dim: int, num_classes: int, channels: int, resolution: int,
                 ngf: int, embed_dim: int, cond: str, cond_bn: bool = False):
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
        kb = num_classes if cond_bn else 0
        self.fc = nn.Linear(z_dim + c_dim, 2 * ngf * self.start ** 2)
        self.bn0 = CondBatchNorm(2 * ngf * self.start ** 2, kb, 1)
        self.up1 = nn.ConvTranspose2d(2 * ngf, ngf, 4, 2, 1)
        self.bn1 = CondBatchNorm(ngf, kb, 2)
        self.up2 = nn.ConvTranspose2d(ngf, channels, 4, 2, 1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        c = (self.embed(labels) if self.embed is not None
             else F.one_hot(labels, self.num_classes).to(z.dtype))
        h = F.relu(self.bn0(self.fc(torch.cat([z, c], 1)), labels))
        h = h.view(-1, 2 * self.ngf, self.start, self.start)
        h = F.relu(self.bn1(self.up1(h), labels))
        return torch.tanh(self.up2(h))


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
        self.embed = None
        if cond == "projection":
            self.embed = nn.Embedding(num_classes, feat)
            # Glorot init as in Miyato & Koyama's code: nn.Embedding's N(0, 1) made the class
            # term <e_y, phi(x)> ~sqrt(feat) times larger than the unconditional one at the
            # start, so D began saturated by noise in the class direction
            nn.init.xavier_uniform_(self.embed.weight)

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


@dataclass
class CGANConfig(AdversarialConfig):
    name: str = "cgan"
    z_dim: int = opt(64, "size of the latent vector z", min=1)
    ngf: int = opt(64, "generator width (channels of the last hidden layer)", min=1)
    ndf: int = opt(64, "discriminator width (channels of the first layer)", min=1)
    g_cond: str = opt("embedding", "how G sees the class: learned embedding or one-hot",
                      choices=("embedding", "onehot"))
    d_cond: str = opt("projection", "how D sees the class: projection (inner product with a "
                                    "class embedding) or one-hot input channels",
                      choices=("projection", "channels"))
    embed_dim: int = opt(32, "size of G's class embedding (g_cond=embedding)", min=1)
    cond_bn: bool = opt(False, "class-conditional batch norm in G: a per-class scale and shift "
                               "after every normalisation, so the label reaches every layer")


@MODELS.register("cgan")
class CGAN(AdversarialGAN):
    """Class-conditional GAN (Mirza & Osindero 2014): embedding/one-hot G, projection/channel D.

    Losses, penalties, weight clipping, spectral norm and DiffAugment are the shared ones of
    :class:`~gankit.models._adversarial.AdversarialGAN` (``model.loss``, ``model.penalty``...).
    """

    Config = CGANConfig
    data_kinds = ("image",)
    needs_labels = True
    capabilities = frozenset({"sample", "conditional"})
    contract_overrides = {"z_dim": 8, "ngf": 8, "ndf": 8, "embed_dim": 4}
    contract_data = {"dataset": "synthetic:64", "resolution": 28, "channels": 1, "labels": True}

    def __init__(self, cfg: CGANConfig, info):
        super().__init__(cfg, info)
        if info.resolution % 4:
            raise ConfigError(f"cgan needs an image size divisible by 4, got {info.resolution} "
                              f"(set data.resolution, e.g. 28 or 32)")
        k = info.num_classes
        self._preview_cols = 8
        self.nets["G"] = CondGenerator(cfg.z_dim, k, info.channels, info.resolution, cfg.ngf,
                                       cfg.embed_dim, cfg.g_cond, cfg.cond_bn)
        self.nets["D"] = CondDiscriminator(k, info.channels, info.resolution, cfg.ndf,
                                           cfg.d_cond)

    @property
    def preview_nrow(self) -> int:
        return self._preview_cols

    @torch.no_grad()
    def preview(self, z, labels, batch, gens, chunk=64):
        """Training grids with one class per row: the same latents across the rows."""
        k = self.info.num_classes
        self._preview_cols = cols = max(1, min(len(z), max(8, len(z) // k)))
        zz = z[:cols].repeat(k, 1)
        yy = torch.arange(k).repeat_interleave(cols)
        return super().preview(zz, yy, batch, gens, chunk)

    def generate(self, z, labels=None, G=None, **options):
        self.reject_options(options)
        G = self.nets["G"] if G is None else G
        if labels is None:
            raise ConfigError("cgan is class-conditional: pass labels (gankit sample --class K)")
        labels = labels.to(z.device).long()
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.info.num_classes):
            raise ConfigError(f"class labels must be in 0..{self.info.num_classes - 1}")
        return G(z, labels)
