"""DCGAN (Radford, Metz & Chintala 2016) for 28, 32 and 64 pixel images."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import opt
from gankit.errors import ConfigError
from gankit.models._adversarial import AdversarialConfig, AdversarialGAN
from gankit.registry import MODELS


@dataclass
class DCGANConfig(AdversarialConfig):
    name: str = "dcgan"
    ngf: int = opt(64, "generator width: channels of the last hidden layer", min=1)
    ndf: int = opt(64, "discriminator width: channels of the first layer", min=1)
    d_dropout: float = opt(0.0, "spatial dropout after each discriminator block (0 = off)",
                           min=0.0, max=0.9)
    d_norm: str = opt("batch", "normalisation in D's hidden blocks: batch (the paper) or none "
                               "(per-sample D, the right partner of R1 / gradient penalties)",
                      choices=("batch", "none"))
    g_extra: bool = opt(False, "a 3x3 conv block after each of G's hidden stages (a deeper G at "
                               "the same widths)")
    g_last_blocks: int = opt(0, "more [3x3 conv, BN, ReLU] blocks at G's last hidden stage "
                                "(its largest feature maps: 14 x 14 for 28 pixels), after "
                                "g_extra's; capacity where garment detail is drawn", min=0)
    d_extra: bool = opt(False, "a 3x3 conv block after each of D's stages (a deeper D)")
    d_stem: int = opt(0, "channels of a 3x3 conv + LeakyReLU that D runs at full resolution "
                         "before its first strided conv (0 = off: D starts with the 4x4 "
                         "stride-2 conv of the paper)", min=0)
    rotation: float = opt(0.0, "self-supervised rotation loss (SS-GAN, Chen et al. 2019): D "
                               "also tells by how many quarter turns each real image was "
                               "rotated (a 4-way head on its last features), this weight times "
                               "that cross-entropy in D's loss (1.0 in the paper; 0 = off)",
                          min=0.0)
    info_codes: int = opt(0, "InfoGAN categorical code (Chen et al. 2016): the latent also "
                             "carries a one-hot of this many categories and a head on D's last "
                             "features must tell the category from each fake, so G draws "
                             "distinct kinds instead of blends between them (0 = off)", min=0)
    info_weight: float = opt(1.0, "with model.info_codes: weight of that cross-entropy in D's "
                                  "and G's losses (InfoGAN's lambda)", min=0.0)
    info_labels: bool = opt(False, "with model.info_codes = the dataset's number of classes: "
                                   "the Q head also learns the real images' labels in D's loss "
                                   "(semi-supervised InfoGAN, Spurr et al. 2017), so each code "
                                   "comes to draw one labelled class; G and sampling stay "
                                   "unconditional (a uniformly drawn code)")
    rotation_g: float = opt(0.2, "with model.rotation: weight of the same cross-entropy on G's "
                                 "rotated fakes in G's loss (0.2 in the paper)", min=0.0)


def _stages(resolution: int) -> tuple[int, int]:
    """(base size, number of 2x stages): 28 = 7*2^2, 32 = 4*2^3, 64 = 4*2^4."""
    for base in (4, 7):
        k, size = 0, base
        while size < resolution:
            size, k = size * 2, k + 1
        if size == resolution and k >= 2:
            return base, k
    raise ConfigError(f"dcgan supports 28, 32 and 64 pixel images (and 4*2^k or 7*2^k), not "
                      f"{resolution}; set data.resolution to one of those")


def dcgan_init(m: nn.Module) -> None:
    """Weights ~ N(0, 0.02), BN scale ~ N(1, 0.02), biases 0, as in the DCGAN paper."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _g_block(w: int) -> list[nn.Module]:
    return [nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(True)]


class DCGANGenerator(nn.Module):
    """z -> ConvT(base) -> [ConvT 4x4 s2, BN, ReLU] x k -> tanh image; widths halve as size doubles.

    ``extra`` adds [Conv 3x3, BN, ReLU] after every hidden stage; ``last_blocks`` adds that
    many more at the last hidden stage."""

    def __init__(self, z_dim: int, ngf: int, channels: int, resolution: int,
                 extra: bool = False, last_blocks: int = 0):
        super().__init__()
        base, k = _stages(resolution)
        widths = [ngf * 2 ** (k - 1 - i) for i in range(k)]  # e.g. 64: 512, 256, 128, 64
        layers: list[nn.Module] = [nn.ConvTranspose2d(z_dim, widths[0], base, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True)]
        layers += _g_block(widths[0]) if extra else []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b),
                       nn.ReLU(True)]
            layers += _g_block(b) if extra else []
        for _ in range(last_blocks):
            layers += _g_block(widths[-1])
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCGANDiscriminator(nn.Module):
    """image -> [Conv 4x4 s2, (BN), LeakyReLU 0.2] x k -> Conv(base) -> logit. No pooling.

    ``norm="none"`` drops the batch norm (and gives each conv a bias): D then judges every image
    on its own, which R1 and gradient penalties assume. ``extra`` adds [Conv 3x3, (BN),
    LeakyReLU] after every stage. ``stem`` > 0 first runs [Conv 3x3 to ``stem`` channels,
    LeakyReLU] at full resolution, so D sees single-pixel detail before it downsamples."""

    def __init__(self, ndf: int, channels: int, resolution: int, dropout: float = 0.0,
                 norm: str = "batch", extra: bool = False, stem: int = 0,
                 rotation: bool = False, categories: int = 0):
        super().__init__()
        base, k = _stages(resolution)
        widths = [ndf * 2 ** i for i in range(k)]
        layers: list[nn.Module] = []
        prev = channels
        if stem:  # no BN here either: the input layer stays unnormalised (as below)
            layers += [nn.Conv2d(channels, stem, 3, 1, 1), nn.LeakyReLU(0.2, True)]
            prev = stem
        for i, w in enumerate(widths):
            layers.append(nn.Conv2d(prev, w, 4, 2, 1, bias=norm == "none"))
            if i > 0 and norm == "batch":  # no BN on the input layer (DCGAN paper: it
                layers.append(nn.BatchNorm2d(w))  # destabilises training)
            layers.append(nn.LeakyReLU(0.2, True))
            if extra:
                layers.append(nn.Conv2d(w, w, 3, 1, 1, bias=norm == "none"))
                if norm == "batch":
                    layers.append(nn.BatchNorm2d(w))
                layers.append(nn.LeakyReLU(0.2, True))
            if dropout:
                layers.append(nn.Dropout2d(dropout))
            prev = w
        layers.append(nn.Conv2d(prev, 1, base, 1, 0, bias=False))
        self.net = nn.Sequential(*layers)
        # SS-GAN's rotation head: 4 logits (0, 90, 180, 270 degrees) from the same features
        self.rot = nn.Conv2d(prev, 4, base, 1, 0) if rotation else None
        # InfoGAN's Q head: the latent category of a fake, from the features of D's last call
        self.q = nn.Conv2d(prev, categories, base, 1, 0) if categories else None
        self.features: torch.Tensor | None = None
        self.features_before: torch.Tensor | None = None  # those of the call before the last
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.q is None:
            return self.net(x).flatten()
        self.features_before = self.features
        self.features = h = self.net[:-1](x)  # kept for category_logits
        return self.net[-1](h).flatten()

    def category_logits(self, before: bool = False) -> torch.Tensor:
        """N x categories logits of the Q head on the images of D's last forward call (with
        ``before``: of the call before it, e.g. the reals of a D phase that judged the fakes
        last)."""
        return self.q(self.features_before if before else self.features).flatten(1)

    def rotation_logits(self, x: torch.Tensor) -> torch.Tensor:
        """N x 4 logits of the rotation head (``rotation=True`` only)."""
        return self.rot(self.net[:-1](x)).flatten(1)


def rotate_quarters(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Each image ``x[i]`` (square) turned counter-clockwise by ``k[i]`` quarter turns."""
    turned = torch.stack([torch.rot90(x, r, (2, 3)) for r in range(4)])
    return turned[k, torch.arange(x.shape[0], device=x.device)]


@MODELS.register("dcgan")
class DCGAN(AdversarialGAN):
    r"""Deep convolutional GAN.

    G maps :math:`z \in \mathbb{R}^{100}` through fractionally-strided convolutions with
    batch norm and ReLU to a tanh image; D is its mirror with strided convolutions, LeakyReLU(0.2)
    and batch norm on every layer but the input, ending in a single logit. No pooling and no
    fully-connected hidden layers (the paper's architecture guidelines). Trained with the loss
    named in ``model.loss`` (default BCE on logits with the non-saturating G loss) and Adam
    (lr 2e-4, beta1 0.5).
    """

    Config = DCGANConfig
    contract_overrides = {"ngf": 4, "ndf": 4, "z_dim": 8}

    def __init__(self, cfg: DCGANConfig, info):
        super().__init__(cfg, info)
        self.nets["G"] = DCGANGenerator(cfg.z_dim + cfg.info_codes, cfg.ngf, info.channels,
                                        info.resolution, cfg.g_extra, cfg.g_last_blocks)
        self.nets["D"] = DCGANDiscriminator(cfg.ndf, info.channels * cfg.pack, info.resolution,
                                            cfg.d_dropout, cfg.d_norm, cfg.d_extra,
                                            cfg.d_stem, cfg.rotation > 0, cfg.info_codes)
        if cfg.rotation and cfg.pack > 1:
            raise ConfigError("model.rotation (SS-GAN) judges single images; set model.pack=1 "
                              "or model.rotation=0")
        if cfg.info_codes and (cfg.pack > 1 or cfg.penalty == "gp"):
            raise ConfigError("model.info_codes (InfoGAN) reads D's features of single fakes: "
                              "set model.pack=1 and model.penalty to none or r1 "
                              "(or model.info_codes=0)")
        if cfg.info_labels and cfg.info_codes != info.num_classes:
            raise ConfigError(f"model.info_labels needs model.info_codes equal to the dataset's "
                              f"number of classes ({info.num_classes}), not {cfg.info_codes}")

    _cats: torch.Tensor | None = None  # categories of the latents drawn last (model.info_codes)

    @property
    def latent_dim(self) -> int:
        return self.cfg.z_dim + self.cfg.info_codes

    def _with_categories(self, z: torch.Tensor, cats: torch.Tensor) -> torch.Tensor:
        return torch.cat([z, F.one_hot(cats, self.cfg.info_codes).to(z)], 1)

    def draw_latents(self, n: int) -> torch.Tensor:
        if not self.cfg.info_codes:
            return super().draw_latents(n)
        z = self.noise.randn(n, self.cfg.z_dim)
        k = self.cfg.info_codes
        self._cats = (self.noise.rand(n) * k).long().clamp_(max=k - 1)
        return self._with_categories(z, self._cats.to(z.device))

    def make_latents(self, seeds: list[int]) -> torch.Tensor:
        """Gaussian z from each seed; with model.info_codes the seed's generator then draws the
        category (the same seed always gives the same latent)."""
        if not self.cfg.info_codes:
            return super().make_latents(seeds)
        rows = []
        for s in seeds:
            g = torch.Generator().manual_seed(int(s))
            z = torch.randn(1, self.cfg.z_dim, generator=g)
            cat = torch.randint(self.cfg.info_codes, (1,), generator=g)
            rows.append(self._with_categories(z, cat))
        return torch.cat(rows)

    def loss(self, phase, batch, nets):
        """The adversarial loss, plus SS-GAN's rotation cross-entropy where model.rotation > 0:
        on rotated reals in D's phases, on rotated fakes (weight rotation_g) in G's."""
        cfg = self.cfg
        if not cfg.rotation and not cfg.info_codes:
            return super().loss(phase, batch, nets)
        stash = self._stash  # the fakes the G phase reuses (super() clears it)
        loss, logs = super().loss(phase, batch, nets)
        if cfg.info_codes and cfg.info_weight:  # D's last call judged the fakes of self._cats
            q = F.cross_entropy(nets["D"].category_logits().float(),
                                self._cats.to(loss.device))
            loss = loss + cfg.info_weight * q
            logs["q_d" if phase in ("D", "Dr1") else "q_g"] = q.detach()
            if cfg.info_labels and phase in ("D", "Dr1"):  # D judged the reals, then the fakes
                q_real = F.cross_entropy(nets["D"].category_logits(before=True).float(),
                                         batch["label"].to(loss.device).long())
                loss = loss + cfg.info_weight * q_real
                logs["q_real"] = q_real.detach()
        if not cfg.rotation:
            return loss, logs
        if phase in ("D", "Dr1"):
            x, weight, key = batch["real"], cfg.rotation, "rot_d"
        else:
            if stash is not None:
                x = stash[0]
            else:
                x = nets["G"](self.draw_latents(batch["real"].shape[0]))
            weight, key = cfg.rotation_g, "rot_g"
        if weight:
            k = (self.noise.rand(x.shape[0]) * 4).long().clamp_(max=3).to(x.device)
            rot = F.cross_entropy(nets["D"].rotation_logits(rotate_quarters(x, k)).float(), k)
            loss = loss + weight * rot
            logs[key] = rot.detach()
        return loss, logs
