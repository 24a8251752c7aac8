"""lsgan, wasserstein and hinge: values at known points, gradient directions, registry."""
import pytest
import torch

from gankit.registry import LOSSES

NAMES = ["lsgan", "wasserstein", "hinge"]


@pytest.mark.parametrize("name", NAMES)
def test_registered_interface(name):
    loss = LOSSES.get(name)()
    real, fake = torch.randn(8, 1), torch.randn(8, 1)
    d, d_logs = loss.d_loss(real, fake)
    g, g_logs = loss.g_loss(fake)
    assert d.dim() == 0 and g.dim() == 0 and torch.isfinite(d) and torch.isfinite(g)
    assert all(v.dim() == 0 for v in {**d_logs, **g_logs}.values())


def test_known_values():
    real = torch.tensor([1.0, 3.0])
    fake = torch.tensor([-1.0, 0.5])
    ls = LOSSES.get("lsgan")()
    assert ls.d_loss(real, fake)[0].item() == pytest.approx(0.5 * (0 + 4) / 2 + 0.5 * (1 + .25) / 2)
    assert ls.g_loss(fake)[0].item() == pytest.approx(0.5 * (4 + 0.25) / 2)
    w = LOSSES.get("wasserstein")()
    d, logs = w.d_loss(real, fake)
    assert d.item() == pytest.approx(-0.25 - 2.0) and logs["w_dist"].item() == pytest.approx(2.25)
    assert w.g_loss(fake)[0].item() == pytest.approx(0.25)
    assert LOSSES.get("wasserstein")(drift=0.1).d_loss(real, fake)[0].item() == pytest.approx(
        -2.25 + 0.1 * 5.0)
    h = LOSSES.get("hinge")()
    # real: relu(1-1)=0, relu(1-3)=0; fake: relu(1-1)=0, relu(1.5)=1.5
    assert h.d_loss(real, fake)[0].item() == pytest.approx(0.0 + 0.75)
    assert h.g_loss(fake)[0].item() == pytest.approx(0.25)


@pytest.mark.parametrize("name", NAMES)
def test_descent_directions(name):
    """A D step raises real logits and lowers fake ones; a G step raises fake logits."""
    loss = LOSSES.get(name)()
    real = torch.full((4,), 0.5, requires_grad=True)
    fake = torch.full((4,), 0.5, requires_grad=True)
    loss.d_loss(real, fake)[0].backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()
    fake2 = torch.full((4,), 0.5, requires_grad=True)
    loss.g_loss(fake2)[0].backward()
    assert (fake2.grad < 0).all()
