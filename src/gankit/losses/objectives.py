"""Adversarial objectives besides ``bce``: least squares, Wasserstein, hinge.

Every loss is registered by name in :data:`gankit.registry.LOSSES` and has the interface of
:class:`~gankit.losses.adversarial.AdversarialLoss` (the ``bce`` loss)::

    loss = LOSSES.get("hinge")(model_cfg)    # reads its options from the model config
    d = loss.d_loss(real_logits, fake_logits)  # scalar
    g = loss.g_loss(fake_logits)               # scalar

``real_logits`` / ``fake_logits`` are the raw (pre-activation) outputs of D, any shape with the
batch first; every loss averages over all elements. ``prob`` maps D's output to the number
logged as ``d_real`` / ``d_fake``: for these losses D's output is a score, not a logit, so the
raw score is logged (for ``wasserstein``, ``d_real - d_fake`` is the critic's estimate of the
earth mover's distance).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from gankit.losses.adversarial import AdversarialLoss
from gankit.losses.penalties import drift_penalty
from gankit.registry import LOSSES


class _ScoreLoss(AdversarialLoss):
    """A loss whose D outputs an unbounded score: log the score itself, not a sigmoid."""

    output = "score"

    def prob(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.float()


@LOSSES.register("lsgan")
class LSGANLoss(_ScoreLoss):
    r"""Least-squares GAN (Mao et al. 2017), a-b-c coding 0-1-1.

    .. math::
        L_D = \tfrac12 E_x[(D(x) - b)^2] + \tfrac12 E_z[(D(G(z)) - a)^2], \qquad
        L_G = \tfrac12 E_z[(D(G(z)) - c)^2]

    with a = 0 (fake), b = 1 (real), c = 1 (G wants D to call its samples real). The squared
    error keeps penalising fakes that are on the right side of the boundary but far from the
    real data, so G's gradient does not vanish the way the saturating sigmoid loss does.
    """

    a, b, c = 0.0, 1.0, 1.0
    # with the 0-1 coding the optimal D is p_data / (p_data + p_g), the bce optimum: the raw
    # score reads as a probability (values slightly outside [0, 1] happen)
    output = "prob"

    def d_loss(self, real_logits, fake_logits):
        real = 0.5 * (self._in(real_logits) - self.b).square().mean()
        fake = 0.5 * (self._in(fake_logits) - self.a).square().mean()
        return real + fake

    def g_loss(self, fake_logits):
        return 0.5 * (self._in(fake_logits) - self.c).square().mean()


@LOSSES.register("wasserstein")
class WassersteinLoss(_ScoreLoss):
    r"""Wasserstein critic loss (Arjovsky et al. 2017); needs clip, gp or spectral norm.

    .. math::
        L_D = E_z[D(G(z))] - E_x[D(x)], \qquad L_G = -E_z[D(G(z))]

    D is a critic (no sigmoid). The critic's maximum of :math:`E_x[D(x)] - E_z[D(G(z))]` over
    1-Lipschitz functions is the earth mover's distance (Kantorovich-Rubinstein duality), so
    the Lipschitz constraint must be enforced by the model: weight clipping (WGAN), a gradient
    penalty (WGAN-GP, :func:`gankit.losses.penalties.gradient_penalty`) or spectral norm.

    ``drift`` (``model.drift``) adds :math:`\epsilon E_x[D(x)^2]` (Karras et al. 2018) so the
    critic's outputs do not drift away from zero (:func:`gankit.losses.penalties.drift_penalty`);
    0 (the default) = the paper's loss. ProGAN adds drift and the gradient penalty itself.
    """

    def __init__(self, cfg: Any = None, float32: bool = True):
        super().__init__(cfg, float32)
        self.drift = float(getattr(cfg, "drift", 0.0) or 0.0)

    def d_loss(self, real_logits, fake_logits):
        loss = self._in(fake_logits).mean() - self._in(real_logits).mean()
        if self.drift:
            loss = loss + self.drift * drift_penalty(self._in(real_logits))
        return loss

    def g_loss(self, fake_logits):
        return -self._in(fake_logits).mean()


@LOSSES.register("hinge")
class HingeLoss(_ScoreLoss):
    r"""Hinge loss (Lim & Ye 2017), as in SN-GAN, SAGAN and BigGAN.

    .. math::
        L_D = E_x[\max(0, 1 - D(x))] + E_z[\max(0, 1 + D(G(z)))], \qquad L_G = -E_z[D(G(z))]

    D stops being pushed once its margin is 1, which keeps its outputs bounded; G uses the
    Wasserstein-style linear loss.
    """

    def d_loss(self, real_logits, fake_logits):
        return (F.relu(1.0 - self._in(real_logits)).mean()
                + F.relu(1.0 + self._in(fake_logits)).mean())

    def g_loss(self, fake_logits):
        return -self._in(fake_logits).mean()

