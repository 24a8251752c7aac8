"""Domain pairs (domains:SOURCE,TARGET) and the MNIST-M-like target set."""
import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.domains import blend_with_patches, source_split, target_split
from gankit.errors import DataError

from datagen import make_cifar_batches, make_idx_set


@pytest.fixture
def root(tmp_path):
    """Generated MNIST files (20 train / 10 test) and CIFAR-10 batches (4 per batch)."""
    make_idx_set(tmp_path / "data" / "mnist", n_train=20, n_test=10)
    make_cifar_batches(tmp_path / "data" / "cifar-10-batches-py", per_batch=4)
    return str(tmp_path / "data")


def load(spec, root, **kw):
    return load_dataset(DataConfig(dataset=spec, root=root, download=False, **kw))


def test_blend_is_the_mnistm_recipe():
    digits = torch.tensor([0, 255, 100], dtype=torch.uint8).view(3, 1, 1, 1).expand(3, 1, 4, 4)
    photos = torch.full((2, 3, 6, 6), 200, dtype=torch.uint8)
    photos[1, 1] = 30
    out = blend_with_patches(digits.contiguous(), photos, torch.Generator().manual_seed(0))
    assert out.shape == (3, 3, 4, 4) and out.dtype == torch.uint8
    for i, d in enumerate((0, 255, 100)):  # |patch - digit| per channel
        assert set(out[i, 0].unique().tolist()) == {abs(200 - d)}
        assert set(out[i, 1].unique().tolist()) <= {abs(200 - d), abs(30 - d)}


def test_blend_crops_a_window_of_the_photo():
    photos = torch.arange(3 * 8 * 8).view(1, 3, 8, 8).to(torch.uint8)
    digits = torch.zeros(50, 1, 5, 5, dtype=torch.uint8)
    out = blend_with_patches(digits, photos, torch.Generator().manual_seed(1))
    windows = {tuple(photos[0, :, y:y + 5, x:x + 5].flatten().tolist())
               for y in range(4) for x in range(4)}
    windows |= {tuple(photos[0, :, y:y + 5, x:x + 5].flip(-1).flatten().tolist())
                for y in range(4) for x in range(4)}
    assert all(tuple(o.flatten().tolist()) in windows for o in out)
    assert len({tuple(o.flatten().tolist()) for o in out}) > 5  # positions vary


def test_mnistm_like_shape_labels_and_determinism(root):
    a = load("mnistm-like", root)
    assert a.images.shape == (20, 3, 28, 28) and a.images.dtype == torch.uint8
    assert a.info.num_classes == 10 and a.labels.tolist() == [i % 10 for i in range(20)]
    assert "CIFAR" in a.source or "cifar" in a.source
    b = load("mnistm-like", root)
    assert torch.equal(a.images, b.images)  # a pure function of the seed
    c = load("mnistm-like:seed=1", root)
    assert not torch.equal(a.images, c.images)
    test = load("mnistm-like:test", root)
    assert test.images.shape == (10, 3, 28, 28)
    assert torch.equal(load("mnistm-like", root, limit=5).images, a.images[:5])
    assert load("mnistm-like", root, resolution=32).images.shape == (20, 3, 32, 32)


def test_mnistm_like_refuses_grey_and_unknown_options(root):
    with pytest.raises(DataError, match="colour"):
        load("mnistm-like", root, channels=1)
    with pytest.raises(DataError, match="unknown option"):
        load("mnistm-like:sed=3", root)


def test_domain_pair_batches_never_carry_target_labels(root):
    ds = load("domains:mnist,mnistm-like", root)
    assert ds.info.kind == "domains" and ds.info.channels == 3  # grey source made colour
    assert ds.info.num_classes == 10
    assert torch.equal(ds.labels, ds.labels_A)  # `labels` are the source's
    b = next(ds.loader(8, seed=0))
    assert set(b) == {"real", "label", "target"}
    assert b["real"].shape == b["target"].shape == (8, 3, 28, 28)
    assert b["real"].min() >= -1 and b["target"].max() <= 1
    # the grey source has three equal channels; the target is coloured
    assert torch.equal(b["real"][:, 0], b["real"][:, 1])
    tgt = target_split(ds)
    assert tgt.labels is not None and len(tgt) == 20
    assert len(source_split(ds)) == 20
    # exact resume: the state is the number of batches drawn
    loader = ds.loader(8, seed=3)
    for _ in range(3):
        next(loader)
    again = ds.loader(8, seed=3)
    again.load_state_dict(loader.state_dict())
    x, y = next(loader), next(again)
    assert all(torch.equal(x[k], y[k]) for k in x)


def _png(path, value, channels):
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((20, 20, 3) if channels == 3 else (20, 20), value, np.uint8)
    Image.fromarray(arr).save(path)


def test_any_two_folders_make_a_pair(tmp_path):
    for k in range(2):
        for i in range(3):
            _png(tmp_path / "src" / f"class{k}" / f"{i}.png", 40 * k + i, 1)
    for i in range(4):
        _png(tmp_path / "tgt" / f"{i}.png", 200 - i, 3)  # flat: unlabelled
    ds = load_dataset(DataConfig(dataset=f"domains:folder:{tmp_path / 'src'},"
                                         f"folder:{tmp_path / 'tgt'}", resolution=16))
    assert ds.info.num_classes == 2 and ds.info.channels == 3 and ds.info.resolution == 16
    assert ds.A.shape == (6, 3, 16, 16) and ds.B.shape == (4, 3, 16, 16)
    with pytest.raises(DataError, match="no labels"):
        target_split(ds)
    with pytest.raises(DataError, match="source domain must be labelled"):
        load_dataset(DataConfig(dataset=f"domains:folder:{tmp_path / 'tgt'},"
                                        f"folder:{tmp_path / 'src'}", resolution=16))


def test_pair_spec_errors():
    with pytest.raises(DataError, match="domains:SOURCE,TARGET"):
        load_dataset(DataConfig(dataset="domains:mnist"))
    with pytest.raises(DataError, match="two plain data sets"):
        load_dataset(DataConfig(dataset="domains:domains:synthetic,synthetic"))
