"""ring8 / grid25: registered, kind points, right centres and spread, reproducible batches."""
import math

import pytest
import torch

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.toy2d import mixture


@pytest.mark.parametrize("name,k,std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_mixture_batches(name, k, std):
    ds = load_dataset(DataConfig(dataset=name, limit=1000))  # 5 batches = 5 whole epochs
    assert len(ds) == 1000
    assert ds.info.kind == "points" and ds.info.dim == 2
    loader = ds.loader(1000, seed=3)
    x = torch.cat([next(loader)["real"] for _ in range(5)])
    assert x.shape == (5000, 2) and x.dtype == torch.float32
    centers, s = mixture(name)
    assert s == std and centers.shape == (k, 2)
    d = torch.cdist(x, centers)
    dist, nearest = d.min(1)
    # every point within 5 std of a centre; every mode equally represented
    assert dist.max().item() < 5 * std
    counts = torch.bincount(nearest, minlength=k)
    assert counts.min().item() == counts.max().item() == 5000 // k
    # the per-coordinate spread is std
    resid = x - centers[nearest]
    assert resid.std().item() == pytest.approx(std, rel=0.05)
    # same seed, same batches
    again = ds.loader(1000, seed=3)
    assert torch.equal(next(again)["real"], x[:1000])


def test_geometry():
    ring, _ = mixture("ring8")
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    angles = torch.atan2(ring[:, 1], ring[:, 0])
    assert torch.allclose(angles.sort().values.diff(), torch.full((7,), math.pi / 4), atol=1e-5)
    grid, _ = mixture("grid25")
    assert sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]


def test_argument_rejected():
    from gankit.errors import DataError
    with pytest.raises(DataError):
        load_dataset(DataConfig(dataset="ring8:foo"))


def test_gan_trains_on_points_and_samples_npz(tmp_path):
    import numpy as np

    from gankit.cli import main
    from gankit.config import config_from_dict
    from gankit.train.trainer import train

    raw = {"model": {"name": "gan", "z_dim": 2, "g_hidden": [16], "d_hidden": [16]},
           "data": {"dataset": "grid25"},
           "train": {"steps": 3, "batch_size": 16, "sample_every": 0, "checkpoint_every": 0,
                     "progress": False, "threads": 1}}
    run = train(config_from_dict(raw), tmp_path / "run")
    assert main(["sample", str(run), "--seeds", "0-99", "--npz", str(tmp_path / "s.npz")]) == 0
    s = np.load(tmp_path / "s.npz")["samples"]
    assert s.shape == (100, 2) and s.dtype == np.float32 and np.isfinite(s).all()
