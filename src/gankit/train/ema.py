"""Exponential moving average of generator weights (Karras et al. 2018; Yazici et al. 2019)."""
from __future__ import annotations

import copy

from torch import nn

from gankit.nn.average import average_into


class EMA:
    r"""Keeps :math:`\bar\theta \leftarrow \beta\bar\theta + (1-\beta)\theta` for each generator net.

    Before ``start`` the average is a plain copy, so early noisy weights are not averaged in.
    Buffers (BN statistics, StyleGAN's mean w) are copied, not averaged.
    """

    def __init__(self, nets: dict[str, nn.Module], decay: float, start: int = 0):
        self.decay, self.start = decay, start
        self.nets = {k: copy.deepcopy(v).requires_grad_(False).eval() for k, v in nets.items()}

    def update(self, nets: dict[str, nn.Module], step: int) -> None:
        beta = self.decay if step >= self.start else 0.0
        for name, net in nets.items():
            average_into(self.nets[name], net, beta)

    def state_dict(self) -> dict[str, dict]:
        return {k: v.state_dict() for k, v in self.nets.items()}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        for k, v in state.items():
            self.nets[k].load_state_dict(v)
