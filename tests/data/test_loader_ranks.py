"""N rank loaders together draw exactly what one loader with the global batch draws."""
import torch

from gankit.config import DataConfig
from gankit.data import load_dataset


def _check(spec: str, **cfg):
    ds = load_dataset(DataConfig(dataset=spec, **cfg))
    one = ds.loader(8, seed=3)
    ranks = [ds.loader(4, seed=3, rank=r, world=2) for r in range(2)]
    for _ in range(5):  # crosses an epoch boundary of the 24-example sets
        full = next(one)
        parts = [next(r) for r in ranks]
        for key in full:
            torch.testing.assert_close(torch.cat([p[key] for p in parts]), full[key])


def test_flips_match_one_process():
    _check("synthetic:24", resolution=16, flip=True)


def test_paired_jitter_matches_one_process():
    _check("synthetic-paired:24", resolution=16, flip=True)


def test_unpaired_matches_one_process():
    _check("synthetic-unpaired:24", resolution=16)
