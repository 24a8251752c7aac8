r"""Interpolation in latent space between seeds: linear and spherical.

For latents :math:`a, b` and :math:`t \in [0, 1]`:

* lerp: :math:`(1 - t)\,a + t\,b`.
* slerp: the direction moves along the great circle from :math:`\hat a` to :math:`\hat b`,
  :math:`\hat v(t) = \frac{\sin((1-t)\Omega)}{\sin\Omega}\hat a
  + \frac{\sin(t\Omega)}{\sin\Omega}\hat b` with :math:`\cos\Omega = \hat a \cdot \hat b`,
  and the norm moves linearly,
  :math:`v(t) = ((1-t)\lVert a\rVert + t\lVert b\rVert)\,\hat v(t)`.

Why slerp (White 2016, "Sampling generative networks"): a Gaussian z of dimension d lives
near the sphere of radius :math:`\sqrt d`; the midpoint of a straight line between two such
points has norm about :math:`\sqrt{d/2}`, a region G never saw in training, so lerp frames
look washed out in the middle. Slerp keeps the norm in the typical range.

Edge cases: when :math:`\sin\Omega` is tiny the formula divides 0 by 0. Near-parallel vectors
(:math:`\Omega \approx 0`) take the normalised lerp of the directions (the arc is a line
there). Anti-parallel vectors (:math:`\Omega \approx \pi`) have no unique great circle; we pick
a deterministic one through a unit vector orthogonal to :math:`a`.
"""
from __future__ import annotations

from typing import Any

import torch

from gankit.errors import GankitError
from gankit.sampling._common import generate_z, image_model, labels_like

MODES = ("lerp", "slerp")
_EPS = 1e-6


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation; ``a``, ``b`` (..., D), ``t`` broadcastable to (...)."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    return a + t.unsqueeze(-1) * (b - a)


def _orthogonal(u: torch.Tensor) -> torch.Tensor:
    """A unit vector orthogonal to each unit row of ``u`` (Gram-Schmidt on the basis vector
    where ``u`` is smallest, so it is never close to ``u``)."""
    e = torch.zeros_like(u)
    e.scatter_(-1, u.abs().argmin(-1, keepdim=True), 1.0)
    p = e - (e * u).sum(-1, keepdim=True) * u
    return p / p.norm(dim=-1, keepdim=True)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (see the module docstring); ``a``, ``b`` (..., D)."""
    a, b = torch.broadcast_tensors(a, b)
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    t = t.expand(a.shape[:-1]) if t.dim() < a.dim() else t
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(_EPS), b / nb.clamp_min(_EPS)
    # compute in float64: acos near +-1 is where float32 loses the angle
    ua64, ub64, t64 = ua.double(), ub.double(), t.double().unsqueeze(-1)
    dot = (ua64 * ub64).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    small = so < 1e-5
    safe = torch.where(small, torch.ones_like(so), so)
    arc = (torch.sin((1 - t64) * omega) * ua64 + torch.sin(t64 * omega) * ub64) / safe
    # parallel: the arc is a line; anti-parallel: go round through an orthogonal direction
    near = ua64 + t64 * (ub64 - ua64)
    near = near / near.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    p = _orthogonal(ua64)
    anti = torch.cos(torch.pi * t64) * ua64 + torch.sin(torch.pi * t64) * p
    fallback = torch.where(dot > 0, near, anti)
    unit = torch.where(small, fallback, arc)
    norm = na.double() + t64 * (nb.double() - na.double())
    return (norm * unit).to(a.dtype)


def interpolation_path(z: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """Latents along the path through the rows of ``z`` (K x D): ``steps`` frames per segment,
    both ends included and shared ends counted once, so (K - 1) * (steps - 1) + 1 rows."""
    if mode not in MODES:
        raise GankitError(f"interpolation mode must be lerp or slerp, not {mode!r}")
    if steps < 2:
        raise GankitError(f"--steps must be at least 2 (got {steps}): frames include both ends")
    if z.dim() != 2 or z.shape[0] < 2:
        raise GankitError("interpolation needs at least two seeds, e.g. --seeds 3,17")
    fn = slerp if mode == "slerp" else lerp
    t = torch.linspace(0, 1, steps, dtype=z.dtype)
    frames = [z[:1]]
    for a, b in zip(z[:-1], z[1:]):
        frames.append(fn(a.expand(steps - 1, -1), b.expand(steps - 1, -1), t[1:]))
    return torch.cat(frames)


def path_point(z: torch.Tensor, position: float, mode: str = "slerp") -> torch.Tensor:
    """The latent at ``position`` in [0, K - 1] along the path through the rows of ``z``
    (integer positions are the seeds themselves): what a slider in the studio needs."""
    k = z.shape[0]
    if not 0 <= position <= k - 1:
        raise GankitError(f"position {position} is outside 0..{k - 1}")
    i = min(int(position), k - 2)
    fn = slerp if mode == "slerp" else lerp
    return fn(z[i:i + 1], z[i + 1:i + 2], torch.tensor([position - i], dtype=z.dtype))


def interpolate(gen, seeds: list[int], steps: int = 8, mode: str = "slerp", *,
                class_id: int | None = None, labels=None, **options: Any) -> torch.Tensor:
    """Frames (M x C x H x W in [-1, 1]) interpolating in z between consecutive ``seeds``.

    Conditional models keep one class for every frame: ``class_id``, else the class of the
    first seed. ``options`` go to the model's ``generate`` (e.g. ``psi``).
    """
    image_model(gen, "interpolation")
    z = interpolation_path(gen.latents(seeds).cpu(), steps, mode)
    lab = labels_like(gen, z.shape[0], labels, class_id, seed=seeds[0])
    return generate_z(gen, z, lab, **options)


def interpolate_at(gen, seeds: list[int], position: float, mode: str = "slerp", *,
                   class_id: int | None = None, **options: Any) -> torch.Tensor:
    """One image (1 x C x H x W) at ``position`` in [0, len(seeds) - 1] along the path."""
    image_model(gen, "interpolation")
    if len(seeds) < 2:
        raise GankitError("interpolation needs at least two seeds")
    z = path_point(gen.latents(seeds).cpu(), float(position), mode)
    return generate_z(gen, z, labels_like(gen, 1, None, class_id, seed=seeds[0]), **options)
