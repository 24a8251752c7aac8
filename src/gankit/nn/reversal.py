r"""Gradient reversal layer (Ganin & Lempitsky 2015).

:math:`R_\lambda(x) = x` in the forward pass and :math:`\partial R_\lambda / \partial x =
-\lambda I` in the backward pass. Put between a feature extractor and a domain classifier, one
backward pass trains the classifier to *tell* the domains apart while pushing the features,
through the reversed gradient, to make them *indistinguishable*: the min-max game of
domain-adversarial training in a single optimizer step.
"""
from __future__ import annotations

import torch
from torch import nn


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:
        ctx.lambd = lambd
        return x.view_as(x)  # a new tensor node, so autograd calls our backward

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return grad.neg() * ctx.lambd, None


def reverse_gradient(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity forward; gradient multiplied by ``-lambd`` backward."""
    return _Reverse.apply(x, float(lambd))


class GradientReversal(nn.Module):
    """:func:`reverse_gradient` as a module; ``lambd`` may be changed between steps."""

    def __init__(self, lambd: float = 1.0):
        super().__init__()
        self.lambd = float(lambd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reverse_gradient(x, self.lambd)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd:g}"
