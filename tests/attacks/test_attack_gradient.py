"""FGSM / PGD: the eps-ball and [0, 1] are respected, and they fool a trained classifier."""
import pytest
import torch
from attackkit import halves

from gankit.attacks.gradient import fgsm, margin, pgd, success
from gankit.attacks.runner import quantise


def test_margin_sign_and_success():
    logits = torch.tensor([[3.0, 1.0, 0.0], [0.0, 2.0, 5.0]])
    y = torch.tensor([0, 1])
    assert margin(logits, y).tolist() == [2.0, -3.0]          # right by 2, wrong by 3
    assert margin(logits, y, target_class=2).tolist() == [3.0, -3.0]
    assert success(logits, y).tolist() == [False, True]
    assert success(logits, y, 2).tolist() == [False, True]


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.3])
def test_eps_ball_and_range(tiny_classifier, eps):
    x, y = halves(64, seed=2)
    x[:8] = 0.0   # pixels at the range's ends: the clip to [0, 1] must hold too
    x[8:16] = 1.0
    for adv in (fgsm(tiny_classifier, x, y, eps),
                pgd(tiny_classifier, x, y, eps, steps=5, restarts=3),
                pgd(tiny_classifier, x, y, eps, steps=5, random_start=False, target_class=1)):
        assert adv.shape == x.shape
        assert (adv - x).abs().max() <= eps + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
    if eps == 0:
        torch.testing.assert_close(fgsm(tiny_classifier, x, y, 0.0), x)


def test_attacks_fool_a_trained_classifier(tiny_classifier):
    x, y = halves(256, seed=3)
    clean = tiny_classifier(x).argmax(1) == y
    # the classes differ by 0.2 between halves: eps 0.15 can cross that, eps 0.01 cannot
    strong = success(tiny_classifier(pgd(tiny_classifier, x, y, 0.15, steps=10)), y)
    weak = success(tiny_classifier(pgd(tiny_classifier, x, y, 0.01, steps=10)), y)
    one_step = success(tiny_classifier(fgsm(tiny_classifier, x, y, 0.15)), y)
    assert strong[clean].float().mean() > 0.95
    assert one_step[clean].float().mean() > 0.8
    assert weak[clean].float().mean() < 0.2


def test_targeted_pgd_reaches_the_class(tiny_classifier):
    x, y = halves(128, seed=4)
    x, y = x[y == 0], y[y == 0]
    adv = pgd(tiny_classifier, x, y, 0.15, steps=10, target_class=1)
    assert (tiny_classifier(adv).argmax(1) == 1).float().mean() > 0.95


def test_restarts_keep_the_best_result(tiny_classifier):
    x, y = halves(128, seed=5)
    g = torch.Generator().manual_seed(0)
    one = pgd(tiny_classifier, x, y, 0.06, steps=3, restarts=1, generator=g)
    g = torch.Generator().manual_seed(0)
    many = pgd(tiny_classifier, x, y, 0.06, steps=3, restarts=6, generator=g)
    # the first restart is the same run; later ones only replace it where they do better
    assert (margin(tiny_classifier(many), y) <= margin(tiny_classifier(one), y) + 1e-5).all()
    assert success(tiny_classifier(many), y).sum() >= success(tiny_classifier(one), y).sum()


def test_quantise_stays_on_the_grid_inside_the_ball():
    x = torch.randint(0, 256, (4, 1, 8, 8)).float() / 255
    adv = (x + (torch.rand_like(x) * 2 - 1) * 0.3).clamp(0, 1)
    q = quantise(adv, x, 0.3)
    torch.testing.assert_close(q * 255, (q * 255).round())
    assert (q - x).abs().max() <= 0.3 + 1e-6
    assert (q - adv).abs().max() <= 0.5 / 255 + 1e-6 + 1 / 255
