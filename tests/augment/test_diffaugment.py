"""DiffAugment ops: exact behaviour with fixed random numbers, differentiability, ADA's p."""
import pytest
import torch

from gankit.augment.diffaugment import DiffAugment, color, cutout, translation
from gankit.errors import ConfigError
from gankit.registry import AUGMENTS


def const_rand(value):
    return lambda n, *shape: torch.full((n, *shape), float(value), dtype=torch.float64)


def seeded_rand(seed):
    g = torch.Generator().manual_seed(seed)
    return lambda n, *shape: torch.rand(n, *shape, generator=g, dtype=torch.float64)


def test_registered():
    for name in ("color", "translation", "cutout", "diffaugment"):
        assert name in AUGMENTS.names()


def test_color_identity_at_midpoint_and_brightness():
    x = torch.rand(3, 3, 5, 5) * 2 - 1
    # 0.5 -> brightness +0, saturation x1, contrast x1
    assert torch.allclose(color(x, const_rand(0.5)), x, atol=1e-6)
    # brightness +0.25 then saturation x1.5 and contrast x1.5 around means
    y = color(x, const_rand(0.75))
    x1 = x + 0.25
    m = x1.mean(1, keepdim=True)
    x2 = (x1 - m) * 1.5 + m
    m2 = x2.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(y, (x2 - m2) * 1.25 + m2, atol=1e-6)


def test_translation_known_shift():
    x = torch.arange(64.0).view(1, 1, 8, 8)
    # ratio 1/8 of 8 -> shifts in -1..1; rand 0.99 -> index 2 -> shift +1 in y and x
    y = translation(x, const_rand(0.99))
    assert torch.equal(y[0, 0, 1:, 1:], x[0, 0, :-1, :-1])
    assert (y[0, 0, 0] == 0).all() and (y[0, 0, :, 0] == 0).all()
    assert torch.equal(translation(x, const_rand(0.5)), x)  # index 1 -> no shift


def test_cutout_zeroes_a_square():
    x = torch.ones(2, 3, 8, 8)
    y = cutout(x, const_rand(0.5))  # centre (4, 4), side 4 -> rows/cols 2..5
    assert (y[:, :, 2:6, 2:6] == 0).all()
    assert y.sum().item() == 2 * 3 * (64 - 16)


@pytest.mark.parametrize("op", [color, translation, cutout])
def test_ops_differentiable_float64(op):
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: op(t, seeded_rand(0)), (x,))


def test_policy_probability_and_same_transform_for_same_draws():
    x = torch.randn(16, 3, 8, 8)
    aug = DiffAugment("color,translation,cutout", p=0.0)
    assert torch.equal(aug(x), x)
    aug = DiffAugment("color,translation,cutout", p=1.0)
    a, b = aug(x, seeded_rand(1)), aug(x, seeded_rand(1))
    assert torch.equal(a, b) and not torch.equal(a, x)
    half = DiffAugment("cutout", p=0.5)(torch.ones(400, 1, 8, 8), seeded_rand(2))
    changed = (half.view(400, -1) == 0).any(1).float().mean().item()
    assert 0.4 < changed < 0.6


def test_bad_policy_and_points():
    with pytest.raises(ConfigError, match="did you mean cutout"):
        DiffAugment("color,cutot")
    with pytest.raises(ConfigError, match="images"):
        DiffAugment("color")(torch.randn(4, 2))


def test_ada_adjusts_p_and_round_trips_state():
    aug = DiffAugment("color", target=0.6, interval=4, speed=1000)
    assert aug.p == 0.0
    for _ in range(8):                 # D sure of the reals: r_t = 1 > 0.6, p grows
        aug.update(torch.ones(50))
    assert aug.p == pytest.approx(2 * 200 / 1000)
    for _ in range(4):                 # r_t = -1 < 0.6: p shrinks
        aug.update(-torch.ones(50))
    assert aug.p == pytest.approx(0.2)
    aug.update(torch.ones(50))
    state = aug.state_dict()
    other = DiffAugment("color", target=0.6, interval=4, speed=1000)
    other.load_state_dict(state)
    for a in (aug, other):
        for _ in range(3):
            a.update(torch.ones(50))
    assert other.p == aug.p == pytest.approx(0.4)
    fixed = DiffAugment("color", p=0.3)
    fixed.update(torch.ones(50))
    assert fixed.p == 0.3              # not adaptive: p never moves
