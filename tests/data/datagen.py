"""Small generated data sets for the data-layer tests (MNIST-style IDX files, CIFAR batches)."""
from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np


def write_idx(path: Path, arr: np.ndarray, compress: bool = True) -> Path:
    """Write a uint8 array as an IDX file (gzip-compressed when ``compress``)."""
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path.write_bytes(gzip.compress(data, mtime=0))
    else:
        path.write_bytes(data)
    return path


def make_idx_set(folder: Path, n_train: int = 20, n_test: int = 10, fill: int | None = None,
                 compress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A tiny MNIST-layout data set in ``folder``; returns (train images, train labels)."""
    rng = np.random.default_rng(0)
    out = None
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        if fill is not None:
            x[:, 0, 0] = fill
        y = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", x, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y, compress)
        if out is None:
            out = (x, y)
    return out


def make_cifar_batches(folder: Path, per_batch: int = 4) -> np.ndarray:
    """Python-2-style CIFAR-10 batches (bytes keys, numpy data) -> all train images NCHW."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    train = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data,
                         b"filenames": [b"x.png"] * per_batch}, f, protocol=2)
        if name != "test_batch":
            train.append(data.reshape(-1, 3, 32, 32))
    return np.concatenate(train)
