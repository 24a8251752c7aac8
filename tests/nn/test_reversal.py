"""The gradient reversal layer: identity forward, -lambda * gradient backward."""
import torch

from gankit.nn.reversal import GradientReversal, reverse_gradient


def test_forward_is_identity():
    x = torch.randn(4, 5)
    y = reverse_gradient(x, 0.7)
    assert torch.equal(y, x)
    assert torch.equal(GradientReversal(3.0)(x), x)


def test_backward_is_minus_lambda_times_the_gradient():
    x = torch.randn(6, 3, requires_grad=True)
    w = torch.randn(6, 3)
    (reverse_gradient(x, 0.25) * w).sum().backward()
    torch.testing.assert_close(x.grad, -0.25 * w)


def test_reversal_composes_with_the_layers_around_it():
    lin = torch.nn.Linear(3, 2)
    x = torch.randn(5, 3, requires_grad=True)
    lin(reverse_gradient(x, 2.0)).square().sum().backward()
    reversed_grad = x.grad.clone()
    x.grad = None
    lin(x).square().sum().backward()
    torch.testing.assert_close(reversed_grad, -2.0 * x.grad)


def test_zero_lambda_blocks_the_gradient_and_module_lambda_can_change():
    layer = GradientReversal(0.0)
    x = torch.randn(3, requires_grad=True)
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.zeros(3))
    layer.lambd = 1.5
    x.grad = None
    layer(x).sum().backward()
    assert torch.equal(x.grad, torch.full((3,), -1.5))
    assert "lambd=1.5" in repr(layer)
