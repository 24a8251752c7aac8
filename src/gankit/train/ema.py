"""Exponential moving average of generator weights (Karras et al. 2018; Yazici et al. 2019)."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EMA:
    r"""Keeps :math:`\bar\theta \leftarrow \beta\bar\theta + (1-\beta)\theta` for each generator net.

    Before ``start`` the average is a plain copy, so early noisy weights are not averaged in.
    Buffers (BN statistics, StyleGAN's mean w) are copied, not averaged.
    """

    def __init__(self, nets: dict[str, nn.Module], decay: float, start: int = 0):
        self.decay, self.start = decay, start
        self.nets = {k: copy.deepcopy(v).requires_grad_(False).eval() for k, v in nets.items()}

    @torch.no_grad()
    def update(self, nets: dict[str, nn.Module], step: int) -> None:
        beta = self.decay if step >= self.start else 0.0
        for name, net in nets.items():
            avg = self.nets[name]
            a_params, params = list(avg.parameters()), list(net.parameters())
            if beta == 0.0:
                torch._foreach_copy_(a_params, [p.detach() for p in params])
            else:
                torch._foreach_lerp_(a_params, [p.detach() for p in params], 1.0 - beta)
            for ab, b in zip(avg.buffers(), net.buffers()):
                ab.copy_(b)

    def state_dict(self) -> dict[str, dict]:
        return {k: v.state_dict() for k, v in self.nets.items()}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        for k, v in state.items():
            self.nets[k].load_state_dict(v)
