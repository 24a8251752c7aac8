"""benchmarks/translation/evaluate.py: tiled translation of images larger than G's crop size."""
from __future__ import annotations


import pytest
import torch

from states import load_benchmark


@pytest.fixture(scope="module")
def evaluate():
    return load_benchmark("translation/evaluate.py")


class TileProbe(torch.nn.Module):
    """A 'translator' that only accepts tile x tile inputs and marks each output with its own
    input's mean, so misplaced or transposed tiles show up."""

    def __init__(self, tile: int):
        super().__init__()
        self.tile = tile

    def translate(self, x, direction="AtoB"):
        assert x.shape[-2:] == (self.tile, self.tile) and direction == "AtoB"
        return -x + x.mean((1, 2, 3), keepdim=True)


def test_tiles_go_back_where_they_came_from(evaluate):
    torch.manual_seed(0)
    x = torch.rand(3, 3, 32, 48) * 2 - 1          # 2 x 3 tiles of 16 px, not square
    y = evaluate.translate_tiled(TileProbe(16), x, 16)
    assert y.shape == x.shape
    for i in range(2):
        for j in range(3):
            t = x[:, :, 16 * i:16 * (i + 1), 16 * j:16 * (j + 1)]
            want = (-t + t.mean((1, 2, 3), keepdim=True)).clamp(-1, 1)
            torch.testing.assert_close(y[:, :, 16 * i:16 * (i + 1), 16 * j:16 * (j + 1)], want)


def test_one_tile_is_the_plain_translation(evaluate):
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(evaluate.translate_tiled(TileProbe(16), x, 16),
                               evaluate.translate_all(TileProbe(16), x, "AtoB"))
