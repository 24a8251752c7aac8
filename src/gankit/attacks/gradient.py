r"""White-box gradient attacks under an L-infinity budget, and the margin loss they share.

Images ``x`` are float N x C x H x W in [0, 1] (the target convention of
:mod:`gankit.attacks`); every result satisfies :math:`\lVert x' - x \rVert_\infty \le
\epsilon` and :math:`x' \in [0, 1]`.

* **FGSM** (Goodfellow et al. 2015): one step :math:`x' = \mathrm{clip}_{[0,1]}(x + \epsilon\,
  \mathrm{sign} \nabla_x \ell(f(x), y))`.
* **PGD** (Madry et al. 2018): from a uniform random start in the eps-ball, ``steps`` steps of
  size :math:`\alpha` (default :math:`2.5 \epsilon / \text{steps}`, Madry's choice) along the
  gradient's sign, each followed by projection onto the eps-ball and [0, 1]. With ``restarts``
  > 1 the examples not yet fooled are attacked again from new random starts and each keeps its
  most successful (lowest margin) result.

Untargeted attacks ascend the cross-entropy of the true class; targeted ones (``target_class``
= t) descend the cross-entropy of class t. ``loss="margin"`` uses the Carlini-Wagner margin
instead (:func:`~gankit.losses.attack.margin`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from gankit.losses.attack import margin

__all__ = ["fgsm", "margin", "pgd", "project", "success"]


def success(logits: torch.Tensor, y: torch.Tensor, target_class: int | None = None
            ) -> torch.Tensor:
    """Boolean per example: misclassified (untargeted) or classified as ``target_class``."""
    pred = logits.argmax(1)
    return pred != y if target_class is None else pred == target_class


def _objective(logits, y, target_class, loss: str) -> torch.Tensor:
    """Summed objective to *ascend*."""
    if loss == "margin":
        return -margin(logits, y, target_class).sum()
    if target_class is None:
        return F.cross_entropy(logits.float(), y, reduction="sum")
    return -F.cross_entropy(logits.float(), torch.full_like(y, target_class), reduction="sum")


def _grad(model, x, y, target_class, loss):
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        obj = _objective(model(x), y, target_class, loss)
        (g,) = torch.autograd.grad(obj, x)
    return g


def _check(x: torch.Tensor, eps: float) -> None:
    if x.dim() != 4:
        raise ValueError(f"attacks take images N x C x H x W, got shape {tuple(x.shape)}")
    if not eps >= 0:
        raise ValueError(f"eps must be >= 0, got {eps}")


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Nearest point of the eps-ball around ``x`` (L-infinity) inside [0, 1]."""
    return torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp(0, 1)


def fgsm(model, x: torch.Tensor, y: torch.Tensor, eps: float, target_class: int | None = None,
         loss: str = "ce") -> torch.Tensor:
    """One signed-gradient step of size ``eps``; ``x`` in [0, 1], returns x' in [0, 1]."""
    _check(x, eps)
    g = _grad(model, x, y, target_class, loss)
    return project(x + eps * g.sign(), x, eps).detach()


def pgd(model, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 40,
        step_size: float | None = None, restarts: int = 1, random_start: bool = True,
        target_class: int | None = None, loss: str = "ce",
        generator: torch.Generator | None = None) -> torch.Tensor:
    """Projected gradient descent in the L-infinity eps-ball (see the module docstring).

    ``generator`` seeds the random starts (on ``x``'s device); restarts after the first
    always start at random. Returns x' in [0, 1] with ``|x' - x| <= eps`` everywhere.
    """
    _check(x, eps)
    if steps < 1 or restarts < 1:
        raise ValueError("pgd needs steps >= 1 and restarts >= 1")
    alpha = 2.5 * eps / steps if step_size is None else step_size
    x = x.detach()
    best = x.clone()
    best_margin = torch.full((x.shape[0],), float("inf"), device=x.device)
    todo = torch.arange(x.shape[0], device=x.device)
    for r in range(restarts):
        x0, y0 = x[todo], y[todo]
        if random_start or r > 0:
            noise = torch.rand(x0.shape, generator=generator, device=x0.device)
            xa = project(x0 + (2 * noise - 1) * eps, x0, eps)
        else:
            xa = x0.clone()
        for _ in range(steps):
            xa = project(xa + alpha * _grad(model, xa, y0, target_class, loss).sign(), x0, eps)
        with torch.no_grad():
            m = margin(model(xa), y0, target_class)
        better = m < best_margin[todo]
        best[todo[better]] = xa[better]
        best_margin[todo[better]] = m[better]
        todo = todo[best_margin[todo] >= 0]  # not fooled yet: try again from a new start
        if todo.numel() == 0:
            break
    return best
