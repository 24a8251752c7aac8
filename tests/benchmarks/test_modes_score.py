"""The independent 2-D mode-coverage scorer of benchmarks/modes (score.py) on known samples."""
from __future__ import annotations

import math

import numpy as np
import pytest

from states import load_benchmark


@pytest.fixture(scope="module")
def score():
    return load_benchmark("modes/score.py").score


def grid(n: int, std: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    c = np.array([(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], float)
    return c[rng.integers(0, 25, n)] + std * rng.standard_normal((n, 2))


def test_real_grid_data(score):
    s = score(grid(50_000, 0.05), "grid25")
    assert s["modes"] == 25 and s["finite"]
    # P(r < 3 std) of a 2-D Gaussian = 1 - exp(-9/2) = 98.89%
    assert s["hq_percent"] == pytest.approx(100 * (1 - math.exp(-4.5)), abs=0.2)
    assert s["reverse_kl"] < 0.002
    assert s["mode_width"] == pytest.approx(0.974, abs=0.02)
    assert s["mode_spread"] == pytest.approx(0.974, abs=0.02) and s["mode_offset"] < 0.1


def test_off_centre_narrow_blobs_score_width_but_not_spread(score):
    # blobs of std 0.3 x the true one, each shifted 1.2 std off its centre: the RMS distance
    # to the centre (the width) looks nearly real, the spread around their own mean does not
    x = grid(20_000, 0.015, seed=2) + np.array([0.06, 0.0])
    s = score(x, "grid25")
    assert s["hq_percent"] > 99 and s["mode_width"] > 0.85
    assert s["mode_spread"] == pytest.approx(0.3, abs=0.02)
    assert s["mode_offset"] == pytest.approx(1.2, abs=0.03)


def test_narrow_modes_and_bridges(score):
    # modes half as wide: all HQ, but the width says so
    assert score(grid(20_000, 0.025), "grid25")["mode_width"] == pytest.approx(0.5, abs=0.02)
    # points half-way between neighbouring modes are never high quality
    mid = np.array([[-3.0, 0.0], [1.0, 2.0], [0.0, 3.0]] * 100)
    s = score(mid, "grid25")
    assert s["hq_percent"] == 0 and s["modes"] == 0 and math.isnan(s["mode_width"])


def test_collapse_to_one_mode(score):
    s = score(np.tile([[1.0, 0.0]], (2500, 1)) + 0.001, "ring8")
    assert s["modes"] == 1 and s["hq_percent"] == 100
    assert s["reverse_kl"] == pytest.approx(math.log(8))
    with pytest.raises(ValueError, match="N x 2"):
        score(np.zeros((4, 3)), "ring8")


def test_real_ring_data(score):
    rng = np.random.default_rng(1)
    a = rng.integers(0, 8, 50_000) * 2 * math.pi / 8
    x = np.stack([np.cos(a), np.sin(a)], 1) + 0.01 * rng.standard_normal((50_000, 2))
    s = score(x, "ring8")
    assert s["modes"] == 8 and s["reverse_kl"] < 0.001
    assert s["hq_percent"] == pytest.approx(100 * (1 - math.exp(-4.5)), abs=0.2)
    assert s["mode_width"] == pytest.approx(0.974, abs=0.02)
