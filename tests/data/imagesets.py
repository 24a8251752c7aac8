"""Small image folders for the streaming and packing tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def make_folder(root: Path, n_per_class: int = 6, classes=("cats", "dogs"), size=(20, 26),
                seed: int = 0) -> Path:
    """Class subfolders of random RGB PNGs (``size`` = h, w: not square, so cropping matters)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(arr).save(root / c / f"{i:03d}.png")
    return root
