"""Toy 2D mixtures of Gaussians for mode-coverage experiments: ``ring8`` and ``grid25``.

These are the synthetic sets of the VEEGAN / PacGAN / GDPP mode-collapse protocol:

* ``ring8``: 8 Gaussians evenly spaced on a circle of radius 1, std 0.01;
* ``grid25``: 25 Gaussians on the 5 x 5 grid {-4, -2, 0, 2, 4}^2, std 0.05.

A batch is ``{"real": N x 2 float32}`` (kind ``points``, no [-1, 1] scaling: these are raw
coordinates). Examples are drawn fresh from the mixture for every batch: example ``i`` belongs
to mode ``i mod K`` and its Gaussian offset comes from the loader's per-batch generator, so the
stream is exactly reproducible and resumable while never repeating a point. ``len`` is a
nominal epoch of 100,000 examples (``data.limit`` changes it), which keeps the modes exactly
balanced within every epoch.
"""
from __future__ import annotations

import math

import torch

from gankit.data.base import DataInfo, Dataset
from gankit.errors import DataError
from gankit.registry import DATASETS


def ring_centers(k: int = 8, radius: float = 1.0) -> torch.Tensor:
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return torch.stack([radius * angles.cos(), radius * angles.sin()], 1).float()


def grid_centers(side: int = 5, spacing: float = 2.0) -> torch.Tensor:
    coords = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    return torch.cartesian_prod(coords, coords)


# name -> (centres, std); the benchmark's scorer reads the same table
MIXTURES = {
    "ring8": (ring_centers, 0.01),
    "grid25": (grid_centers, 0.05),
}


def mixture(name: str) -> tuple[torch.Tensor, float]:
    """(K x 2 centres, std) of a named mixture."""
    make, std = MIXTURES[name]
    return make(), std


class GaussianMixture2D(Dataset):
    """Isotropic Gaussians of one ``std`` around ``centers`` (K x 2), equally weighted."""

    def __init__(self, centers: torch.Tensor, std: float, size: int = 100_000,
                 source: str = ""):
        if centers.dim() != 2 or centers.shape[1] != 2:
            raise DataError(f"centers must be K x 2, got {tuple(centers.shape)}")
        self.centers = centers.float()
        self.std = float(std)
        self.size = int(size)
        self.source = source
        self.info = DataInfo("points", channels=0, resolution=0, num_classes=0, dim=2)

    def __len__(self) -> int:
        return self.size

    def sample(self, n: int, gen: torch.Generator | None = None) -> torch.Tensor:
        """``n`` independent points from the mixture (modes drawn at random)."""
        modes = torch.randint(len(self.centers), (n,), generator=gen)
        return self.centers[modes] + self.std * torch.randn(n, 2, generator=gen)

    def get_batch(self, index, gen, device):
        modes = index.cpu() % len(self.centers)
        noise = torch.randn(len(modes), 2, generator=gen)
        return {"real": (self.centers[modes] + self.std * noise).to(device)}


def _builder(name: str):
    def build(arg: str, cfg) -> GaussianMixture2D:
        if arg:
            raise DataError(f"dataset {name!r} takes no argument (got {name}:{arg})")
        centers, std = mixture(name)
        size = cfg.limit if getattr(cfg, "limit", 0) else 100_000
        return GaussianMixture2D(centers, std, size, source=f"synthetic {name}")

    build.__doc__ = {"ring8": "8 Gaussians on a circle of radius 1, std 0.01 (2-D points, "
                               "mode-coverage benchmark).",
                     "grid25": "25 Gaussians on the 5x5 grid {-4,-2,0,2,4}^2, std 0.05 (2-D "
                               "points, mode-coverage benchmark)."}[name]
    return build


DATASETS.add("ring8", _builder("ring8"))
DATASETS.add("grid25", _builder("grid25"))
