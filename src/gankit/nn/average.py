"""Weight averaging shared by the trainer's generator EMA and models that average their own nets."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def average_into(avg: nn.Module, net: nn.Module, beta: float) -> None:
    r"""In place: :math:`\bar\theta \leftarrow \beta\bar\theta + (1-\beta)\theta` for every
    parameter of ``avg`` (a plain copy when ``beta`` is 0); buffers (BN statistics, StyleGAN's
    mean w) are copied, not averaged. ``avg`` and ``net`` have the same architecture."""
    a_params, params = list(avg.parameters()), [p.detach() for p in net.parameters()]
    if beta == 0.0:
        torch._foreach_copy_(a_params, params)
    else:
        torch._foreach_lerp_(a_params, params, 1.0 - beta)
    for ab, b in zip(avg.buffers(), net.buffers()):
        ab.copy_(b)
