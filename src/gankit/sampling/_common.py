"""Shared helpers of the latent tools: generate from explicit latents, check capabilities."""
from __future__ import annotations

from typing import Any

import torch

from gankit.errors import GankitError


def require(gen, capability: str, what: str, hint: str = "") -> None:
    """Raise a GankitError when ``gen``'s model lacks ``capability`` (e.g. ``conditional``)."""
    if capability not in gen.capabilities:
        name = gen.cfg.model.name
        have = ", ".join(sorted(gen.capabilities)) or "none"
        raise GankitError(f"{what} needs a model with the {capability!r} capability; "
                          f"{name!r} has {have}{'; ' + hint if hint else ''}")


def require_latent(gen, what: str) -> None:
    """The latent tools need a model that samples from z (not pix2pix/CycleGAN, not points)."""
    if "sample" not in gen.capabilities or not gen.model.latent_dim:
        raise GankitError(f"{what} needs a generator with a latent space; model "
                          f"{gen.cfg.model.name!r} has none (translation models: use "
                          f"`gankit translate`)")


def image_model(gen, what: str) -> None:
    require_latent(gen, what)
    if gen.info.kind == "points":
        raise GankitError(f"{what} makes images, but model {gen.cfg.model.name!r} was trained "
                          f"on point data; use `gankit sample --npz` instead")


def check_latents(gen, z: torch.Tensor) -> torch.Tensor:
    d = gen.model.latent_dim
    if z.dim() != 2 or z.shape[1] != d:
        raise GankitError(f"latents must be N x {d} for this model, got {tuple(z.shape)}")
    return z


def labels_like(gen, n: int, labels=None, class_id: int | None = None,
                seed: int = 0) -> torch.Tensor | None:
    """Labels for ``n`` images of a conditional model: ``labels`` as given (one is repeated),
    else ``class_id`` repeated, else the class that goes with ``seed``; None when the model is
    unconditional (and an error when labels were asked of it)."""
    if labels is None:
        if class_id is None and "conditional" in gen.capabilities:
            class_id = int(gen.model.sample_labels([seed])[0])
        return gen.labels_for([seed] * n, class_id)
    if "conditional" not in gen.capabilities:
        raise GankitError(f"model {gen.cfg.model.name!r} is not class-conditional; "
                          f"give no class labels")
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    if labels.numel() == 1 and n != 1:
        labels = labels.expand(n)
    if labels.numel() != n:
        raise GankitError(f"{labels.numel()} labels for {n} images")
    k = gen.info.num_classes
    if labels.min() < 0 or labels.max() >= k:
        raise GankitError(f"class labels must be in 0..{k - 1}")
    return labels


def generate_z(gen, z: torch.Tensor, labels: torch.Tensor | None = None, *,
               batch_size: int = 64, grad: bool = False, **options: Any) -> torch.Tensor:
    """Images (N x C x H x W in [-1, 1]) for explicit latents ``z`` (N x z_dim).

    Without ``grad`` this runs under no_grad and returns CPU tensors; with ``grad`` it keeps
    the graph (for projection and classifier gradients) and stays on the generator's device.
    """
    check_latents(gen, z)
    if labels is None and "conditional" in gen.capabilities:
        raise GankitError(f"model {gen.cfg.model.name!r} is class-conditional: give labels "
                          f"(or a class) for the latents")
    if grad:
        lab = None if labels is None else labels.to(gen.device)
        return gen.model.generate(z.to(gen.device), lab, G=gen.G, **options)
    out = []
    with torch.no_grad():
        for i in range(0, z.shape[0], batch_size):
            lab = None if labels is None else labels[i:i + batch_size].to(gen.device)
            # per-image tensor options (e.g. stylegan's mix_z) are cut like z
            opts = {k: (v[i:i + batch_size].to(gen.device) if torch.is_tensor(v) and v.dim()
                        and v.shape[0] == z.shape[0] else v) for k, v in options.items()}
            out.append(gen.model.generate(z[i:i + batch_size].to(gen.device), lab, G=gen.G,
                                          **opts).float().cpu())
    return torch.cat(out) if out else torch.empty(0)
