r"""The Carlini-Wagner margin: how far a classifier's logits are from an attack's goal.

Shared by the gradient attacks (:mod:`gankit.attacks.gradient`) and AdvGAN's attack loss
(:mod:`gankit.models.advgan`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def margin(logits: torch.Tensor, y: torch.Tensor, target_class: int | None = None
           ) -> torch.Tensor:
    r"""Per-example distance from success in logits (Carlini & Wagner 2017); < 0 = success.

    Untargeted: :math:`Z_y - \max_{i \ne y} Z_i` (the true class still wins by this much).
    Targeted to t: :math:`\max_{i \ne t} Z_i - Z_t`.
    """
    logits = logits.float()
    k = torch.full_like(y, target_class) if target_class is not None else y
    own = logits.gather(1, k[:, None])[:, 0]
    others = logits.masked_fill(F.one_hot(k, logits.shape[1]).bool(), float("-inf")).amax(1)
    return own - others if target_class is None else others - own
