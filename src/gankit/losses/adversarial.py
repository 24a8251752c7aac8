"""Adversarial losses on discriminator logits."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from gankit.registry import LOSSES


class AdversarialLoss:
    """Base: subclasses implement ``d_loss`` and ``g_loss`` on raw logits (never sigmoids)."""

    #: what ``prob`` gives, for the models' ``d_output`` declaration (models/base.D_OUTPUTS)
    output = "prob"

    #: how to turn a logit into "probability real" for logging D(x) and D(G(z))
    def prob(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits.float())

    def __init__(self, cfg: Any = None):
        self.cfg = cfg

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@LOSSES.register("bce")
class BCELoss(AdversarialLoss):
    r"""Binary cross-entropy on logits (Goodfellow et al. 2014), non-saturating G loss.

    .. math::
        L_D = -\mathbb{E}_x[s \log D(x)] - \mathbb{E}_z[\log(1 - D(G(z)))]\qquad
        L_G = -\mathbb{E}_z[\log D(G(z))]

    ``s`` is the real-label target: 1, or e.g. 0.9 for one-sided label smoothing
    (Salimans et al. 2016) read from ``cfg.label_smoothing``. Only real labels are smoothed:
    smoothing fake labels would reward G for samples D already rejects.
    The G loss uses flipped labels (maximise log D(G(z))) rather than minimising
    log(1 - D(G(z))), whose gradient vanishes when D confidently rejects the fakes.
    Computed with ``binary_cross_entropy_with_logits`` for numerical stability.
    """

    def __init__(self, cfg: Any = None):
        super().__init__(cfg)
        self.real_target = float(getattr(cfg, "label_smoothing", 1.0) or 1.0)

    def d_loss(self, real_logits, fake_logits):
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        real = F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, self.real_target))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake

    def g_loss(self, fake_logits):
        fake_logits = fake_logits.float()
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def target_loss(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    """D's output against a constant target (1 = real, 0 = fake), the image-to-image models'
    form of the adversarial loss: ``vanilla``: binary cross-entropy on logits; ``lsgan``:
    (D - target)^2 (Mao et al.). The two-player models use the registered losses above."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    return F.binary_cross_entropy_with_logits(logits, target)
