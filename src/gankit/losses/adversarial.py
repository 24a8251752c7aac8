"""Adversarial losses on discriminator logits: ``bce`` and the non-saturating ``logistic``
loss (StyleGAN's); the others are in :mod:`gankit.losses.objectives`.

Every loss computes in float32 (``.float()`` on D's outputs, which are bf16 under autocast);
``float32=False`` keeps the dtype D gave, the arithmetic ProGAN and the StyleGANs have always
used (their training runs and checkpoints stay bit for bit what they were).
"""
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

    def __init__(self, cfg: Any = None, float32: bool = True):
        self.cfg = cfg
        self.float32 = float32

    def _in(self, logits: torch.Tensor) -> torch.Tensor:
        """D's output as the loss computes with it (float32 unless ``float32=False``)."""
        return logits.float() if self.float32 else logits

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

    def __init__(self, cfg: Any = None, float32: bool = True):
        super().__init__(cfg, float32)
        self.real_target = float(getattr(cfg, "label_smoothing", 1.0) or 1.0)

    def d_loss(self, real_logits, fake_logits):
        real_logits, fake_logits = self._in(real_logits), self._in(fake_logits)
        real = F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, self.real_target))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake

    def g_loss(self, fake_logits):
        fake_logits = self._in(fake_logits)
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


@LOSSES.register("logistic")
class LogisticLoss(AdversarialLoss):
    r"""Non-saturating logistic loss written with softplus, as StyleGAN and StyleGAN2 use it
    (Karras et al. 2019, 2020).

    .. math::
        L_D = \mathbb{E}_z[\mathrm{softplus}(D(G(z)))] + \mathbb{E}_x[\mathrm{softplus}(-D(x))]
        \qquad L_G = \mathbb{E}_z[\mathrm{softplus}(-D(G(z)))]

    The same objective as ``bce`` without label smoothing (:math:`-\log \sigma(t) =
    \mathrm{softplus}(-t)`), computed as softplus of the logits.
    """

    def d_loss(self, real_logits, fake_logits):
        return (F.softplus(self._in(fake_logits)).mean()
                + F.softplus(-self._in(real_logits)).mean())

    def g_loss(self, fake_logits):
        return F.softplus(-self._in(fake_logits)).mean()


def target_loss(logits: torch.Tensor, real: bool, kind: str) -> torch.Tensor:
    """D's output against a constant target (1 = real, 0 = fake), the image-to-image models'
    form of the adversarial loss: ``vanilla``: binary cross-entropy on logits; ``lsgan``:
    (D - target)^2 (Mao et al.). The two-player models use the registered losses above."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    if kind == "lsgan":
        return F.mse_loss(logits, target)
    return F.binary_cross_entropy_with_logits(logits, target)
