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


@torch.no_grad()
def recalibrate_batchnorm(net: nn.Module, batches) -> bool:
    """Re-estimate the running statistics of every batch-norm layer of ``net`` as the exact
    average over ``batches`` (an iterable of callables, each running one forward pass of
    ``net`` in train mode). Returns False (and does nothing) when ``net`` has no batch norm.

    Why: an averaged generator's weights are not the weights the copied BN statistics were
    measured on, so its eval-mode samples are washed out or off-contrast; statistics measured
    on the averaged weights themselves fix that (as in SWA's ``update_bn``).
    """
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
           and m.track_running_stats]
    if not bns:
        return False
    momenta = [m.momentum for m in bns]
    was_training = net.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the exact mean over all batches
    net.train()
    try:
        for run in batches:
            run()
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        net.train(was_training)
    return True
