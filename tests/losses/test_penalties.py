"""Gradient penalty and R1: closed forms, float64 gradcheck/gradgradcheck, spectral norm."""
import pytest
import torch
from torch import nn

from gankit.losses.penalties import (clip_weights, gradient_penalty, has_spectral_norm,
                                     interpolate, r1_from_critic, r1_penalty, spectral_norm)


def _mlp_critic(W1, b1, w2):
    # smooth (tanh) so second and third derivatives exist everywhere
    return lambda x: torch.tanh(x.reshape(x.shape[0], -1) @ W1 + b1) @ w2


def _params(dim=3, hidden=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(dim, hidden, generator=g, dtype=torch.float64, requires_grad=True),
            torch.randn(hidden, generator=g, dtype=torch.float64, requires_grad=True),
            torch.randn(hidden, generator=g, dtype=torch.float64, requires_grad=True)]


def test_gp_linear_critic_closed_form():
    w = torch.tensor([3.0, 4.0])  # |w| = 5 everywhere, so the penalty is (5 - 1)^2 = 16
    real, fake = torch.randn(8, 2), torch.randn(8, 2)
    assert gradient_penalty(lambda x: x @ w, real, fake).item() == pytest.approx(16.0)
    assert gradient_penalty(lambda x: x @ (w / 5), real, fake).item() == pytest.approx(0.0,
                                                                                       abs=1e-10)


def test_r1_closed_forms():
    x = torch.randn(6, 1, 2, 2, requires_grad=True)
    # D(x) = 0.5 |x|^2 has gradient x, so R1 = E |x|^2
    logits = 0.5 * x.reshape(6, -1).square().sum(1)
    expected = x.detach().reshape(6, -1).square().sum(1).mean()
    assert torch.allclose(r1_penalty(logits, x), expected)
    w = torch.tensor([1.0, 2.0, 2.0, 0.0])
    assert r1_from_critic(lambda t: t.reshape(6, -1) @ w, x).item() == pytest.approx(9.0)


def test_r1_requires_grad_enabled_input():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match="requires_grad"):
        r1_penalty((x * 2).sum(1), x)


def test_interpolate_endpoints_and_shape_check():
    real, fake = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    a = torch.tensor([1.0, 0.0, 0.5, 0.25])
    x = interpolate(real, fake, a)
    assert torch.allclose(x[0], real[0]) and torch.allclose(x[1], fake[1])
    assert torch.allclose(x[2], 0.5 * (real[2] + fake[2]))
    with pytest.raises(ValueError):
        interpolate(real, fake[:, :, :2])


def test_gp_gradcheck_and_gradgradcheck_float64():
    g = torch.Generator().manual_seed(1)
    real = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    fake = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    alpha = torch.rand(5, generator=g, dtype=torch.float64)
    params = _params()

    def f(W1, b1, w2):  # the penalty as a function of D's weights, the quantity D's step needs
        return gradient_penalty(_mlp_critic(W1, b1, w2), real, fake, alpha)

    assert torch.autograd.gradcheck(f, params)
    assert torch.autograd.gradgradcheck(f, params)


def test_r1_gradcheck_and_gradgradcheck_float64():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(4, 3, generator=g, dtype=torch.float64)
    params = _params(seed=3)

    def f(W1, b1, w2):
        return r1_from_critic(_mlp_critic(W1, b1, w2), real)

    def f_input(x):  # r1_penalty itself, as a function of the data point
        return r1_penalty(_mlp_critic(*[p.detach() for p in params])(x), x)

    assert torch.autograd.gradcheck(f, params)
    assert torch.autograd.gradgradcheck(f, params)
    x = real.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f_input, (x,))
    assert torch.autograd.gradgradcheck(f_input, (x,))


def test_gp_backprop_reaches_critic_params_not_inputs():
    D = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    real = torch.randn(16, 2)
    fake = torch.randn(16, 2, requires_grad=True)
    gp = gradient_penalty(lambda x: D(x).squeeze(1), real, fake)
    gp.backward()
    # every weight matters to the input gradient (the last bias does not: it is constant in x)
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for name, p in D.named_parameters() if name != "2.bias")
    assert fake.grad is None  # interpolates are detached: the penalty is D's business only


def test_spectral_norm_bounds_lipschitz():
    torch.manual_seed(0)
    D = nn.Sequential(nn.Linear(4, 32), nn.LeakyReLU(0.2), nn.Conv1d(1, 1, 1) if False
                      else nn.Linear(32, 32), nn.LeakyReLU(0.2), nn.Linear(32, 1))
    with torch.no_grad():
        for p in D.parameters():
            p.mul_(10)
    spectral_norm(D, n_power_iterations=1)
    assert has_spectral_norm(D)
    spectral_norm(D)  # idempotent: not normalised twice
    D.train()
    for _ in range(50):  # power iteration converges over forward passes
        D(torch.randn(8, 4))
    for m in D.modules():
        if isinstance(m, nn.Linear):
            assert torch.linalg.matrix_norm(m.weight.detach(), 2).item() == pytest.approx(
                1.0, rel=0.05)
    x = torch.randn(64, 4, requires_grad=True)
    (grad,) = torch.autograd.grad(D(x).sum(), x)
    assert grad.norm(dim=1).max().item() <= 1.05


def test_clip_weights():
    net = nn.Linear(3, 3)
    with torch.no_grad():
        net.weight.mul_(100)
    clip_weights(net, 0.01)
    assert all(p.abs().max().item() <= 0.01 for p in net.parameters())
