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
