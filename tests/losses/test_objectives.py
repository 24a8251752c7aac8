"""lsgan, wasserstein and hinge: values at known points, gradient directions, registry."""
from types import SimpleNamespace

import pytest
import torch

from gankit.losses.adversarial import AdversarialLoss
from gankit.registry import LOSSES

NAMES = ["lsgan", "wasserstein", "hinge"]


@pytest.mark.parametrize("name", NAMES)
def test_registered_interface(name):
    loss = LOSSES.get(name)(None)
    assert isinstance(loss, AdversarialLoss)
    real, fake = torch.randn(8), torch.randn(8)
    d, g = loss.d_loss(real, fake), loss.g_loss(fake)
    assert d.dim() == 0 and g.dim() == 0 and torch.isfinite(d) and torch.isfinite(g)
    # these D outputs are scores: logged as they are
    assert torch.equal(loss.prob(real), real)


def test_known_values():
    real = torch.tensor([1.0, 3.0])
    fake = torch.tensor([-1.0, 0.5])
    ls = LOSSES.get("lsgan")()
    assert ls.d_loss(real, fake).item() == pytest.approx(0.5 * (0 + 4) / 2 + 0.5 * (1 + .25) / 2)
    assert ls.g_loss(fake).item() == pytest.approx(0.5 * (4 + 0.25) / 2)
    w = LOSSES.get("wasserstein")()
    assert w.d_loss(real, fake).item() == pytest.approx(-0.25 - 2.0)
    assert w.g_loss(fake).item() == pytest.approx(0.25)
    drift = LOSSES.get("wasserstein")(SimpleNamespace(drift=0.1))
    assert drift.d_loss(real, fake).item() == pytest.approx(-2.25 + 0.1 * 5.0)
    h = LOSSES.get("hinge")()
    # real: relu(1-1)=0, relu(1-3)=0; fake: relu(1-1)=0, relu(1.5)=1.5
    assert h.d_loss(real, fake).item() == pytest.approx(0.0 + 0.75)
    assert h.g_loss(fake).item() == pytest.approx(0.25)


@pytest.mark.parametrize("name", NAMES + ["bce"])
def test_descent_directions(name):
    """A D step raises real scores and lowers fake ones; a G step raises fake scores."""
    loss = LOSSES.get(name)()
    real = torch.full((4,), 0.5, requires_grad=True)
    fake = torch.full((4,), 0.5, requires_grad=True)
    loss.d_loss(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake2 = torch.full((4,), 0.5, requires_grad=True)
    loss.g_loss(fake2).backward()
    assert (fake2.grad < 0).all()


def test_logistic_is_bce_written_with_softplus():
    """StyleGAN's non-saturating logistic loss is in the vocabulary: the bce objective."""
    torch.manual_seed(0)
    real, fake = torch.randn(16) * 3, torch.randn(16) * 3
    lg, bce = LOSSES.get("logistic")(), LOSSES.get("bce")()
    assert lg.output == "prob"
    assert torch.allclose(lg.d_loss(real, fake), bce.d_loss(real, fake), atol=1e-6)
    assert torch.allclose(lg.g_loss(fake), bce.g_loss(fake), atol=1e-6)


@pytest.mark.parametrize("name", NAMES + ["bce", "logistic"])
def test_float32_by_default_or_in_ds_own_dtype(name):
    """bf16 D outputs (autocast) are lifted to float32, unless the loss is built with
    float32=False (ProGAN, StyleGAN, StyleGAN2: their runs stay what they were)."""
    real, fake = torch.randn(8).bfloat16(), torch.randn(8).bfloat16()
    assert LOSSES.get(name)().d_loss(real, fake).dtype == torch.float32
    own = LOSSES.get(name)(None, float32=False)
    assert own.d_loss(real, fake).dtype == own.g_loss(fake).dtype == torch.bfloat16


def test_the_stylegan_and_progan_forms_bit_for_bit():
    """The vocabulary reproduces the inline maths the models had, bit for bit, in bf16."""
    import torch.nn.functional as F

    from gankit.losses.penalties import drift_penalty

    torch.manual_seed(1)
    real, fake = torch.randn(16).bfloat16(), torch.randn(16).bfloat16()
    lg = LOSSES.get("logistic")(None, float32=False)
    assert torch.equal(lg.d_loss(real, fake), F.softplus(fake).mean() + F.softplus(-real).mean())
    assert torch.equal(lg.g_loss(fake), F.softplus(-fake).mean())
    w = LOSSES.get("wasserstein")(None, float32=False)
    assert torch.equal(w.d_loss(real, fake), -(real.mean() - fake.mean()))  # progan's -wdist
    assert torch.equal(w.g_loss(fake), -fake.mean())
    assert torch.equal(drift_penalty(real), real.pow(2).mean())
