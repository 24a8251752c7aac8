"""MNIST read straight from the IDX files (independent of gankit's data layer)."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch


def mnist_root() -> Path:
    root = Path(os.environ.get("GANKIT_DATA", "/work/shared/data")) / "mnist"
    if not (root / "t10k-images-idx3-ubyte.gz").exists():
        raise SystemExit(f"MNIST not found under {root}: set GANKIT_DATA")
    return root


def load(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images float N x 1 x 28 x 28 in [-1, 1], labels int64) of 'train' or 'test'."""
    pre = "train" if split == "train" else "t10k"
    root = mnist_root()
    x = np.frombuffer(gzip.open(root / f"{pre}-images-idx3-ubyte.gz").read(), np.uint8,
                      offset=16).reshape(-1, 1, 28, 28)
    y = np.frombuffer(gzip.open(root / f"{pre}-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    return torch.from_numpy(x.copy()).float() / 127.5 - 1, torch.from_numpy(y.astype(np.int64))
