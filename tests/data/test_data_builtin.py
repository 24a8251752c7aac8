"""Built-in data sets: real files (when $GANKIT_DATA is set) and generated fixtures."""
from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
import torch
from datagen import make_cifar_batches, make_idx_set, write_idx
from PIL import Image

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.errors import DataError


def load(spec, **kw):
    kw.setdefault("download", False)
    return load_dataset(DataConfig(dataset=spec, **kw))


# --------------------------------------------------------------------------- real files

def test_real_mnist_and_fashion(real_data):
    ds = load("mnist:test", root=str(real_data))
    assert ds.images.shape == (10000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert torch.bincount(ds.labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028,
                                                  974, 1009]
    assert abs(ds.images.float().mean().item() - 33.791) < 0.01   # SOURCE.md
    assert ds.source == str(real_data / "mnist")
    fm = load("fashion-mnist", split="test", root=str(real_data), limit=500)
    assert len(fm) == 500 and fm.info.num_classes == 10
    assert fm.info.class_names[9] == "Ankle boot"


def test_real_cifar10_subset_warns(real_data, caplog):
    with caplog.at_level(logging.WARNING, logger="gankit.data"):
        ds = load("cifar10:test", root=str(real_data))
    assert "PARTIAL" in caplog.text
    assert ds.images.shape == (1000, 3, 32, 32)
    assert ds.images[0, :, 0, 0].tolist() == [158, 112, 49]            # SOURCE.md check
    assert ds.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    train = load("cifar10", root=str(real_data), limit=10)
    assert train.images[0, :, 0, 0].tolist() == [59, 62, 63]


def test_real_celeba_default_pipeline(real_data):
    ds = load("celeba", root=str(real_data), limit=16)
    assert ds.images.shape == (16, 3, 64, 64) and ds.labels is None
    # default = centre crop 89 (the full width of the 89x109 subset), LANCZOS to 64
    img = Image.open(real_data / "celeba_subset" / "img" / "000001.jpg").convert("RGB")
    ref = np.asarray(img.crop((0, 10, 89, 99)).resize((64, 64), Image.Resampling.LANCZOS))
    assert np.array_equal(ds.images[0].permute(1, 2, 0).numpy(), ref)


# --------------------------------------------------------------------------- fixtures

def test_idx_splits_transforms_and_flags(tmp_path):
    x, y = make_idx_set(tmp_path / "d" / "mnist")
    root = str(tmp_path / "d")
    ds = load("mnist", root=root)
    assert torch.equal(ds.images[:, 0], torch.from_numpy(x)) and ds.labels.tolist() == list(y)
    assert len(load("mnist:test", root=root)) == 10
    assert len(load("mnist", split="all", root=root)) == 30
    big = load("mnist", root=root, resolution=32, channels=3, limit=5, flip=True)
    assert big.images.shape == (5, 3, 32, 32) and big.flip and big.info.num_classes == 10
    nolab = load("mnist", root=root, labels=False)
    assert nolab.labels is None and nolab.info.num_classes == 0
    crop = load("mnist", root=root, center_crop=20)
    assert torch.equal(crop.images[:, 0], torch.from_numpy(x[:, 4:24, 4:24]))
    with pytest.raises(DataError, match="unknown split"):
        load("mnist:valid", root=root)


def test_idx_unpacked_torchvision_layout_and_damaged_file(tmp_path):
    make_idx_set(tmp_path / "FashionMNIST" / "raw", compress=False)
    assert len(load("fashion-mnist", root=str(tmp_path))) == 20
    write_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28), np.uint8))
    (tmp_path / "mnist" / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8bgarbage")
    with pytest.raises(DataError, match="damaged"):
        load("mnist", root=str(tmp_path))
    raw = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    raw.unlink()
    (tmp_path / "mnist" / "train-labels-idx1-ubyte").write_bytes(
        bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(DataError, match="truncated"):
        load("mnist", root=str(tmp_path))


def test_cifar_python_batches(tmp_path):
    x = make_cifar_batches(tmp_path / "cifar-10-batches-py")
    ds = load("cifar10", root=str(tmp_path))
    assert torch.equal(ds.images, torch.from_numpy(x)) and ds.info.class_names[0] == "airplane"
    assert len(load("cifar10:test", root=str(tmp_path))) == 4
    grey = load("cifar10", root=str(tmp_path), channels=1, resolution=16)
    assert grey.images.shape == (20, 1, 16, 16)


def test_cifar_batch_cannot_run_code(tmp_path):
    make_cifar_batches(tmp_path / "cifar-10-batches-py")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DataError, match="not allowed"):
        load("cifar10", root=str(tmp_path))


def test_full_cifar_preferred_over_subset(tmp_path, monkeypatch):
    sub = tmp_path / "a" / "cifar10_subset"
    sub.mkdir(parents=True)
    np.savez(sub / "cifar10_subset.npz", x_train=np.zeros((3, 32, 32, 3), np.uint8),
             y_train=np.zeros(3, np.int64), x_test=np.zeros((2, 32, 32, 3), np.uint8),
             y_test=np.zeros(2, np.int64))
    assert len(load("cifar10", root=str(tmp_path / "a"))) == 3
    make_cifar_batches(tmp_path / "b" / "cifar10" / "cifar-10-batches-py")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "b"))
    assert len(load("cifar10", root=str(tmp_path / "a"))) == 20


def test_celeba_folder_splits(tmp_path):
    img = tmp_path / "celeba_subset" / "img"
    img.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in (1, 2, 3, 190000):
        Image.fromarray(rng.integers(0, 256, (109, 89, 3), dtype=np.uint8)).save(
            img / f"{i:06d}.jpg")
    assert load("celeba", root=str(tmp_path)).images.shape == (3, 3, 64, 64)
    assert len(load("celeba:test", root=str(tmp_path), resolution=32)) == 1
    assert len(load("celeba:all", root=str(tmp_path))) == 4
    with pytest.raises(DataError, match="cannot be downloaded"):
        load("celeba", root=str(tmp_path / "nowhere"))
