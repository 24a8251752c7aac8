"""Synthetic data for tests and smoke runs: random images, no files needed."""
from __future__ import annotations

import torch

from gankit.data.base import ImageDataset
from gankit.registry import DATASETS


@DATASETS.register("synthetic")
def synthetic(arg: str, cfg) -> ImageDataset:
    """Random blob images (for tests): synthetic:N gives N images, default 256."""
    n = int(arg) if arg else 256
    if cfg.limit:
        n = min(n, cfg.limit)
    res = cfg.resolution or 28
    ch = cfg.channels or 1
    g = torch.Generator().manual_seed(1234)
    # smooth random images: low-res noise upsampled, so they have structure to learn
    low = torch.rand(n, ch, 4, 4, generator=g)
    img = torch.nn.functional.interpolate(low, size=(res, res), mode="bilinear",
                                          align_corners=False)
    images = (img * 255).round().clamp(0, 255).to(torch.uint8)
    labels = torch.randint(0, 10, (n,), generator=g) if cfg.labels else None
    return ImageDataset(images, labels, flip=cfg.flip, source=f"synthetic ({n} images)",
                        num_classes=10 if cfg.labels else 0)
