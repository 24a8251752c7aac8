r"""Projection: find the latent whose image matches a given (real) image, by optimisation.

For a target image :math:`x` we minimise over :math:`z` (Adam, as in the StyleGAN2 projector
and Zhu et al. 2016, "Generative visual manipulation on the natural image manifold")

.. math:: L(z) = \lVert G(\tilde z) - x\rVert_2^2 / n
   + \lambda_f \lVert \phi(G(\tilde z)) - \phi(x)\rVert_2^2 / m
   + \lambda_p \big(\lVert z\rVert^2 / d - 1\big)^2,
   \qquad \tilde z = z + \sigma(t)\,\epsilon

* pixel L2 (mean over the :math:`n` pixels);
* an optional feature loss through a small network :math:`\phi` (any callable image ->
  features; by default a fixed, seeded random conv net whose multi-scale features weigh edges
  and textures, not only pixel colours);
* a prior term that keeps :math:`\lVert z\rVert` near :math:`\sqrt d`, where Gaussian latents
  live (without it the optimiser wanders to latents G never saw and the edits break);
* a noise ramp :math:`\sigma(t)` that perturbs z early on and decays to 0 by 3/4 of the
  steps (the StyleGAN2 projector's trick to escape poor local minima). These models have no
  per-layer noise inputs, so StyleGAN2's noise-map regulariser has nothing to act on.

The start is the best of ``n_init`` seeded latents (and, for conditional models without a
given class, of every class); the learning rate ramps up over the first 5 % of the steps and
down with a cosine over the last 25 %.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.errors import DataError, GankitError
from gankit.sampling._common import generate_z, image_model


@dataclass
class Projection:
    z: torch.Tensor                    # N x D latents (CPU)
    image: torch.Tensor                # N x C x H x W reconstruction in [-1, 1] (CPU)
    labels: torch.Tensor | None        # N class labels for conditional models
    initial_mse: float                 # pixel MSE of the starting latents
    final_mse: float                   # pixel MSE of the result
    history: list[float] = field(default_factory=list)   # total loss per step


def load_image(path: str | Path, channels: int, resolution: int) -> torch.Tensor:
    """1 x C x R x R float in [-1, 1]: alpha composited on white, converted to grey or RGB,
    centre-cropped to a square and resized (Lanczos) to the model's resolution."""
    from PIL import Image, UnidentifiedImageError

    from gankit.data.base import to_float

    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path} does not exist")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                rgba = im.convert("RGBA")
                im = Image.alpha_composite(Image.new("RGBA", rgba.size, (255,) * 4), rgba)
            im = im.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError) as e:
        raise DataError(f"{path} is not an image Pillow can read ({e})") from None
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    im = im.resize((resolution, resolution), Image.LANCZOS)
    import numpy as np

    arr = np.asarray(im, dtype=np.uint8)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return to_float(torch.from_numpy(arr.copy()).permute(2, 0, 1).unsqueeze(0))


class RandomFeatures(nn.Module):
    """A fixed random conv net (seeded, never trained): features at 3 scales, normalised per
    channel. Random conv features already capture local structure (edges, texture) well
    enough to sharpen a pixel-L2 fit; pass a trained net as ``feature_net`` for better."""

    def __init__(self, channels: int, width: int = 16, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList()
        c = channels
        for _ in range(3):
            conv = nn.Conv2d(c, width, 3, 2, 1)
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g)
                                  * math.sqrt(2.0 / (c * 9)))
                conv.bias.zero_()
            conv.requires_grad_(False)
            self.convs.append(conv)
            c = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = []
        for conv in self.convs:
            x = torch.relu(conv(x))
            feats.append(x.flatten(2) / (x.flatten(2).norm(dim=2, keepdim=True) + 1e-6))
        return torch.cat(feats, 2)


def _lr_at(step: int, steps: int, lr: float) -> float:
    t = step / max(1, steps)
    ramp_down = min(1.0, (1.0 - t) / 0.25)
    ramp_up = min(1.0, t / 0.05)
    return lr * ramp_up * (0.5 - 0.5 * math.cos(ramp_down * math.pi))


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).flatten(1).mean(1)


def _start(gen, target: torch.Tensor, n_init: int, init_seed: int, labels, options):
    """Best of ``n_init`` seeded latents (x every class when labels are open) per target."""
    n = target.shape[0]
    zc = gen.latents(list(range(init_seed, init_seed + n_init))).cpu()
    conditional = "conditional" in gen.capabilities
    classes = [None] if not conditional else (
        [None] if labels is not None else list(range(gen.info.num_classes)))
    best_z = torch.zeros(n, zc.shape[1])
    best_l = torch.full((n,), float("inf"))
    best_c = torch.zeros(n, dtype=torch.long)
    for c in classes:
        for i in range(n):
            if conditional:
                lab = torch.full((n_init,), int(labels[i]) if c is None else c, dtype=torch.long)
            else:
                lab = None
            imgs = generate_z(gen, zc, lab, **options)
            loss = _mse(imgs, target[i:i + 1].expand_as(imgs))
            j = int(loss.argmin())
            if loss[j] < best_l[i]:
                best_l[i], best_z[i] = loss[j], zc[j]
                best_c[i] = int(lab[j]) if lab is not None else 0
    return best_z, (best_c if conditional else None), best_l


def project(gen, target: torch.Tensor, steps: int = 300, lr: float = 0.05, *,
            feature_weight: float = 0.0, feature_net=None, prior_weight: float = 1e-3,
            noise: float = 0.05, n_init: int = 16, init_seed: int = 0,
            labels=None, class_id: int | None = None, seed: int = 0,
            **options: Any) -> Projection:
    """Project images ``target`` (N x C x H x W or C x H x W, float in [-1, 1], the model's
    size) into z. Returns a :class:`Projection` (latents, reconstruction, MSE before/after)."""
    image_model(gen, "projection")
    target = torch.as_tensor(target).float()
    if target.dim() == 3:
        target = target.unsqueeze(0)
    want = (gen.info.channels, gen.info.resolution, gen.info.resolution)
    if target.dim() != 4 or tuple(target.shape[1:]) != want:
        raise GankitError(f"images to project must be N x {want[0]} x {want[1]} x {want[2]} "
                          f"for this model, got {tuple(target.shape)} (load files with "
                          f"gankit.sampling.projection.load_image)")
    if steps < 0 or n_init < 1:
        raise GankitError("steps must be >= 0 and n_init >= 1")
    if "conditional" in gen.capabilities and class_id is not None:
        labels = gen.labels_for([0] * target.shape[0], class_id).cpu()
    elif labels is not None:
        if "conditional" not in gen.capabilities:
            raise GankitError(f"model {gen.cfg.model.name!r} is not class-conditional")
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1).expand(target.shape[0])
    elif class_id is not None:
        gen.labels_for([0], class_id)  # raises the "not conditional" error
    z0, labels, init_loss = _start(gen, target, n_init, init_seed, labels, options)

    dev = gen.device
    tgt = target.to(dev)
    lab = None if labels is None else labels.to(dev)
    if feature_weight > 0 and feature_net is None:
        feature_net = RandomFeatures(gen.info.channels).to(dev)
    tgt_feat = None
    if feature_weight > 0:
        with torch.no_grad():
            tgt_feat = feature_net(tgt)
    d = z0.shape[1]
    z = z0.clone().to(dev).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr, betas=(0.9, 0.999))
    rng = torch.Generator(device="cpu").manual_seed(seed)
    history = []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, steps, lr)
        sigma = noise * max(0.0, 1.0 - step / (0.75 * steps)) ** 2
        eps = torch.randn(z.shape, generator=rng).to(dev)
        with torch.enable_grad():
            x = generate_z(gen, z + sigma * eps, lab, grad=True, **options)
            loss = _mse(x, tgt).sum()
            if tgt_feat is not None:
                loss = loss + feature_weight * _mse(feature_net(x), tgt_feat).sum()
            if prior_weight:
                loss = loss + prior_weight * ((z.pow(2).sum(1) / d - 1) ** 2).sum()
            (grad,) = torch.autograd.grad(loss, z)
        z.grad = grad
        opt.step()
        history.append(float(loss.detach()))
    z = z.detach().cpu()
    image = generate_z(gen, z, labels, **options)
    final = _mse(image, target)
    return Projection(z, image, labels, float(init_loss.mean()), float(final.mean()), history)
