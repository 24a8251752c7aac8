"""Class-conditional layers shared by conditional generators."""
from __future__ import annotations

import torch
from torch import nn


class CondBatchNorm(nn.Module):
    r"""Class-conditional batch norm (de Vries et al. 2017; Miyato & Koyama 2018's G).

    :math:`\gamma_y \hat h + \beta_y`: the normalised activations get a per-class scale and
    shift, so the label reaches every layer of G rather than only its input. Starts as plain
    BN (:math:`\gamma = 1, \beta = 0`). With ``num_classes=0`` it is ordinary affine BN.
    """

    def __init__(self, features: int, num_classes: int, dims: int):
        super().__init__()
        norm = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.bn = norm(features, affine=num_classes == 0)
        self.gamma = self.beta = None
        if num_classes:
            self.gamma = nn.Embedding(num_classes, features)
            self.beta = nn.Embedding(num_classes, features)
            nn.init.ones_(self.gamma.weight)
            nn.init.zeros_(self.beta.weight)

    def forward(self, h: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.bn(h)
        if self.gamma is None:
            return h
        shape = (-1, h.shape[1]) + (1,) * (h.dim() - 2)
        return self.gamma(labels).view(shape) * h + self.beta(labels).view(shape)
