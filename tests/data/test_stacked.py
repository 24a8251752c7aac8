"""stacked-mnist: three digits as R, G, B; labels are the digit triple; reproducible by seed."""
import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.errors import DataError

from datagen import make_idx_set


@pytest.fixture
def digits(tmp_path):
    # 20 random train "digits" labelled i % 10, 10 test digits
    x, y = make_idx_set(tmp_path / "mnist")
    return str(tmp_path), torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))


def load(spec, root, **kw):
    return load_dataset(DataConfig(dataset=spec, root=root, **kw))


def test_channels_are_the_indexed_digits_and_label_is_the_triple(digits):
    root, x, y = digits
    ds = load("stacked-mnist", root, limit=300)
    assert len(ds) == 300 and ds.info.channels == 3 and ds.info.resolution == 28
    assert ds.info.num_classes == 1000 and ds.info.kind == "image"
    batch = next(ds.loader(300, seed=0))
    idx = ds.loader(300, seed=0).indices(0)
    triples = ds.index[idx]
    expect = torch.stack([x[triples[:, k]] for k in range(3)], 1).float() / 127.5 - 1
    assert torch.equal(batch["real"], expect)
    lab = y[triples]
    assert torch.equal(batch["label"], lab[:, 0] * 100 + lab[:, 1] * 10 + lab[:, 2])
    # the three channels are drawn independently: not all the same digit
    assert (triples[:, 0] != triples[:, 1]).float().mean() > 0.8
    assert len(load("stacked-mnist", root)) == 20  # default size = the source split's size
    assert torch.equal(ds.labels, ds.modes)


def test_deterministic_given_the_seed_and_splits(digits):
    root, _, _ = digits
    a = load("stacked-mnist", root, limit=100)
    b = load("stacked-mnist:seed=0", root, limit=100)
    c = load("stacked-mnist:train,seed=1", root, limit=100)
    assert torch.equal(a.index, b.index) and not torch.equal(a.index, c.index)
    t = load("stacked-mnist:test,seed=1", root, limit=100)
    assert int(t.index.max()) < 10  # drawn from the 10 test digits
    nolab = load("stacked-mnist", root, limit=10, labels=False)
    assert "label" not in next(nolab.loader(5)) and nolab.info.num_classes == 0


def test_padded_to_32(digits):
    root, x, _ = digits
    ds = load("stacked-mnist", root, limit=8, resolution=32)
    img = ds.images_at(torch.arange(8))
    assert img.shape == (8, 3, 32, 32) and ds.info.resolution == 32
    assert torch.equal(img[:, :, 2:30, 2:30], x[ds.index[:8]])
    assert img[:, :, :2].sum() == 0 and img[:, :, :, 30:].sum() == 0


@pytest.mark.parametrize("spec,kw", [("stacked-mnist:valid", {}), ("stacked-mnist:seed=x", {}),
                                     ("stacked-mnist:train,test", {}),
                                     ("stacked-mnist", {"channels": 1}),
                                     ("stacked-mnist", {"resolution": 64})])
def test_bad_arguments(digits, spec, kw):
    with pytest.raises(DataError):
        load(spec, digits[0], **kw)


def test_modes_are_uniform_on_real_mnist(real_data):
    ds = load("stacked-mnist", str(real_data), limit=26000)
    counts = torch.bincount(ds.modes, minlength=1000)
    assert counts.numel() == 1000 and counts.min() > 0  # 26 expected per mode
    assert counts.float().std() < 8  # multinomial: sqrt(26) ~ 5.1


def test_packed_dcgan_takes_it(digits):
    # the PacGAN preset's model on this data: D sees 2 stacked samples = 6 channels
    from gankit.config import config_from_dict
    from gankit.models.base import build_model

    ds = load("stacked-mnist", digits[0], limit=64)
    cfg = config_from_dict({"model": {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8,
                                      "pack": 2}})
    model = build_model(cfg.model, ds.info)
    assert model.nets["D"].net[0].in_channels == 6
    batch = next(ds.loader(8))
    for phase in ("D", "G"):
        loss, _ = model.loss(phase, batch, model.nets)
        assert torch.isfinite(loss)
    with torch.no_grad():
        assert model.nets["G"](torch.randn(3, 8)).shape == (3, 3, 28, 28)
