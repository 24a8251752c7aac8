"""Adversarial objectives besides ``bce``: least squares, Wasserstein, hinge.

Every loss is registered by name in :data:`gankit.registry.LOSSES` and has the interface of the
``bce`` loss::

    loss = LOSSES.get("hinge")()
    d, d_logs = loss.d_loss(real_logits, fake_logits)   # scalar, {name: tensor}
    g, g_logs = loss.g_loss(fake_logits)

``real_logits`` / ``fake_logits`` are the raw (pre-activation) outputs of D, any shape with the
batch first; every loss averages over all elements.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gankit.registry import LOSSES


@LOSSES.register("lsgan")
class LSGANLoss:
    r"""Least-squares GAN (Mao et al. 2017), with the a-b-c coding ``0-1-1``:

    .. math::
        L_D = \tfrac12 E_x[(D(x) - b)^2] + \tfrac12 E_z[(D(G(z)) - a)^2], \qquad
        L_G = \tfrac12 E_z[(D(G(z)) - c)^2]

    with a = 0 (fake), b = 1 (real), c = 1 (G wants D to call its samples real). The squared
    error keeps penalising fakes that are on the right side of the boundary but far from the
    real data, so G's gradient does not vanish the way the saturating sigmoid loss does.
    """

    def __init__(self, a: float = 0.0, b: float = 1.0, c: float = 1.0):
        self.a, self.b, self.c = a, b, c

    def d_loss(self, real_logits, fake_logits):
        real = 0.5 * (real_logits.float() - self.b).square().mean()
        fake = 0.5 * (fake_logits.float() - self.a).square().mean()
        return real + fake, {"d_real": real.detach(), "d_fake": fake.detach()}

    def g_loss(self, fake_logits):
        g = 0.5 * (fake_logits.float() - self.c).square().mean()
        return g, {"g_adv": g.detach()}


@LOSSES.register("wasserstein")
class WassersteinLoss:
    r"""Wasserstein GAN critic loss (Arjovsky et al. 2017):

    .. math::
        L_D = E_z[D(G(z))] - E_x[D(x)], \qquad L_G = -E_z[D(G(z))]

    D is a critic (no sigmoid). The critic's maximum of :math:`E_x[D(x)] - E_z[D(G(z))]` over
    1-Lipschitz functions is the earth mover's distance (Kantorovich-Rubinstein duality), so
    the Lipschitz constraint must be enforced by the model: weight clipping (WGAN), a gradient
    penalty (WGAN-GP, :func:`gankit.losses.penalties.gradient_penalty`) or spectral norm.
    ``w_dist`` in the logs is the critic's estimate of that distance.

    ``drift`` adds :math:`\epsilon E_x[D(x)^2]` (Karras et al. 2018) so the critic's outputs
    do not drift away from zero; 0 = the paper's loss.
    """

    def __init__(self, drift: float = 0.0):
        self.drift = drift

    def d_loss(self, real_logits, fake_logits):
        real = real_logits.float().mean()
        fake = fake_logits.float().mean()
        loss = fake - real
        logs = {"w_dist": (real - fake).detach()}
        if self.drift:
            drift = real_logits.float().square().mean()
            loss = loss + self.drift * drift
            logs["drift"] = drift.detach()
        return loss, logs

    def g_loss(self, fake_logits):
        g = -fake_logits.float().mean()
        return g, {"g_adv": g.detach()}


@LOSSES.register("hinge")
class HingeLoss:
    r"""Hinge loss (Lim & Ye 2017; used by SN-GAN, SAGAN and BigGAN):

    .. math::
        L_D = E_x[\max(0, 1 - D(x))] + E_z[\max(0, 1 + D(G(z)))], \qquad L_G = -E_z[D(G(z))]

    D stops being pushed once its margin is 1, which keeps its outputs bounded; G uses the
    Wasserstein-style linear loss.
    """

    def d_loss(self, real_logits, fake_logits):
        real = F.relu(1.0 - real_logits.float()).mean()
        fake = F.relu(1.0 + fake_logits.float()).mean()
        return real + fake, {"d_real": real.detach(), "d_fake": fake.detach()}

    def g_loss(self, fake_logits):
        g = -fake_logits.float().mean()
        return g, {"g_adv": g.detach()}


def d_accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor,
               threshold: float = 0.0) -> torch.Tensor:
    """Fraction of reals scored above ``threshold`` and fakes below (a health number to log)."""
    return 0.5 * ((real_logits.detach() > threshold).float().mean()
                  + (fake_logits.detach() < threshold).float().mean())
