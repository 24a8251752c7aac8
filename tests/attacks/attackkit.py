"""Helpers of the attack tests: a two-class toy problem and a tiny classifier for it."""
import torch
from torch import nn


def halves(n, seed=0):
    """Class 0: the left half is brighter than the right by 0.2; class 1: the other way."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.4 + 0.1 * torch.rand(n, 1, 8, 8, generator=g)
    sign = (1 - 2 * y).float().view(-1, 1, 1, 1)  # +1 for class 0
    x[..., :4] += 0.1 * sign
    x[..., 4:] -= 0.1 * sign
    return x.clamp(0, 1), y


class Tiny(nn.Module):
    def __init__(self, k=2):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(256, k))

    def forward(self, x):
        return self.net(x)
