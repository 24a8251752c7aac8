"""npz:PATH: accepted layouts and the errors for everything else."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.errors import DataError


def load(path, **kw):
    return load_dataset(DataConfig(dataset=f"npz:{path}", **kw))


def x(*shape, dtype=np.uint8):
    return np.random.default_rng(0).integers(0, 256, shape).astype(dtype)


@pytest.mark.parametrize("shape,expected", [
    ((5, 8, 8, 3), (5, 3, 8, 8)),     # NHWC
    ((5, 8, 8, 1), (5, 1, 8, 8)),     # NHWC grey
    ((5, 8, 8), (5, 1, 8, 8)),        # NHW
    ((5, 3, 8, 8), (5, 3, 8, 8)),     # NCHW: unambiguous
])
def test_layouts(tmp_path, shape, expected):
    arr = x(*shape)
    np.savez(tmp_path / "d.npz", images=arr, labels=np.arange(5) % 2,
             class_names=np.array(["a", "b"]))
    ds = load(tmp_path / "d.npz")
    assert tuple(ds.images.shape) == expected and ds.info.class_names == ["a", "b"]
    assert ds.labels.tolist() == [0, 1, 0, 1, 0]
    if len(shape) == 4 and shape[-1] == 3:
        assert torch.equal(ds.images, torch.from_numpy(arr).permute(0, 3, 1, 2))


def test_transforms_and_unlabelled(tmp_path):
    np.savez(tmp_path / "d.npz", images=x(4, 10, 10, 3))
    ds = load(tmp_path / "d.npz", resolution=16, channels=1, limit=3)
    assert ds.images.shape == (3, 1, 16, 16) and ds.labels is None


@pytest.mark.parametrize("content,match", [
    (dict(images=x(3, 8, 8, 3, dtype=np.float32)), "dtype float32"),
    (dict(images=x(3, 8, 8, 3), labels=np.arange(2)), r"expected \(3,\)"),
    (dict(images=x(3, 8, 8, 3), labels=np.array([0.5, 1, 2])), "expected integers"),
    (dict(images=x(3, 8, 8, 3), labels=np.array([0, -1, 2])), "negative"),
    (dict(images=x(3, 8, 8, 5)), "cannot tell which axis"),
    (dict(images=x(3, 8, 8, 4)), "4 channels"),
    (dict(images=x(3, 8)), r"shape \(3, 8\)"),
    (dict(pixels=x(3, 8, 8)), "no 'images' array .*pixels"),
    (dict(images=np.zeros((0, 8, 8), np.uint8)), "holds no images"),
])
def test_errors_name_the_file(tmp_path, content, match):
    path = tmp_path / "bad.npz"
    np.savez(path, **content)
    with pytest.raises(DataError, match=match) as e:
        load(path)
    assert str(path) in str(e.value)


def test_not_an_npz_and_pickled_objects(tmp_path):
    (tmp_path / "t.npz").write_text("hello")
    with pytest.raises(DataError, match="not a readable .npz"):
        load(tmp_path / "t.npz")
    np.savez(tmp_path / "o.npz", images=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="without pickle"):
        load(tmp_path / "o.npz")
    with pytest.raises(DataError, match="not found"):
        load(tmp_path / "missing.npz")
