r"""Differentiable augmentation (DiffAugment, Zhao et al. 2020) with optional ADA-style strength.

With little data D memorises the training set and G's gradients become useless. DiffAugment
applies the *same* random, differentiable transformations T to real and fake images before D,
in both D's and G's steps:

.. math::
    L_D = f(D(T(x))) + h(D(T(G(z)))), \qquad L_G = g(D(T(G(z))))

Because T is differentiable, G is trained through it; because it is applied to both, D cannot
tell real from fake by the augmentation itself. Each op draws its parameters independently per
example:

* ``color``: brightness + U(-0.5, 0.5); saturation x U(0, 2) around the per-pixel channel mean;
  contrast x U(0.5, 1.5) around the image mean;
* ``translation``: integer shift of up to 1/8 of the size in x and y, zero-padded;
* ``cutout``: one zeroed square of half the size at a random centre.

Strength ``p``: each op is applied to each example with probability ``p`` (1 = DiffAugment).
ADA (Karras et al. 2020) adjusts ``p`` from the overfitting heuristic
:math:`r_t = E[\mathrm{sign}(D(x_{real}))]`: every ``interval`` D steps, ``p`` moves by
``sign(r_t - target) * batch * interval / speed`` (``speed`` = images for p to go 0 -> 1), so
augmentation grows while D is over-confident on the reals. ``p`` and the running statistic are
part of the checkpoint (``state_dict``).

Images are float NCHW in [-1, 1]; zero fill = mid grey. Random numbers come from a ``rand(n,
*shape)`` callable (uniform [0, 1)) so a model can pass its seeded, resumable noise source.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from gankit.errors import ConfigError, did_you_mean
from gankit.registry import AUGMENTS

Rand = Callable[..., torch.Tensor]


def _default_rand(x: torch.Tensor) -> Rand:
    return lambda n, *shape: torch.rand(n, *shape, device=x.device)


def _u(rand: Rand, x: torch.Tensor, *shape: int) -> torch.Tensor:
    return rand(x.shape[0], *shape).to(device=x.device, dtype=x.dtype)


@AUGMENTS.register("color")
def color(x: torch.Tensor, rand: Rand | None = None) -> torch.Tensor:
    """Random brightness, saturation and contrast (per example)."""
    rand = rand or _default_rand(x)
    x = x + (_u(rand, x, 1, 1, 1) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_u(rand, x, 1, 1, 1) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_u(rand, x, 1, 1, 1) + 0.5) + mean


@AUGMENTS.register("translation")
def translation(x: torch.Tensor, rand: Rand | None = None, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ``ratio`` of its size (integer pixels), filling with zeros."""
    rand = rand or _default_rand(x)
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    if sy == 0 and sx == 0:
        return x
    # shifts uniform over the integers -s..s
    ty = (_u(rand, x, 1) * (2 * sy + 1)).floor().long().clamp_(0, 2 * sy).view(n) - sy
    tx = (_u(rand, x, 1) * (2 * sx + 1)).floor().long().clamp_(0, 2 * sx).view(n) - sx
    padded = torch.nn.functional.pad(x, (sx, sx, sy, sy))
    # output pixel (i, j) reads padded pixel (i + s - t): a pure gather, differentiable in x
    iy = torch.arange(h, device=x.device).view(1, h) + sy - ty.view(n, 1)
    ix = torch.arange(w, device=x.device).view(1, w) + sx - tx.view(n, 1)
    b = torch.arange(n, device=x.device).view(n, 1, 1)
    out = padded.permute(0, 2, 3, 1)[b, iy.view(n, h, 1), ix.view(n, 1, w)]
    return out.permute(0, 3, 1, 2).contiguous(memory_format=torch.contiguous_format)


@AUGMENTS.register("cutout")
def cutout(x: torch.Tensor, rand: Rand | None = None, ratio: float = 0.5) -> torch.Tensor:
    """Zero one square of ``ratio`` times the size per image, centred anywhere in the image."""
    rand = rand or _default_rand(x)
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = (_u(rand, x, 1) * h).floor().view(n, 1, 1)
    cx = (_u(rand, x, 1) * w).floor().view(n, 1, 1)
    yy = torch.arange(h, device=x.device, dtype=x.dtype).view(1, h, 1)
    xx = torch.arange(w, device=x.device, dtype=x.dtype).view(1, 1, w)
    inside = ((yy >= cy - ch // 2) & (yy < cy - ch // 2 + ch)
              & (xx >= cx - cw // 2) & (xx < cx - cw // 2 + cw))
    return x * (~inside).unsqueeze(1).to(x.dtype)


OPS = ("color", "translation", "cutout")


def parse_policy(policy: str) -> list[str]:
    """``"color,translation"`` -> ["color", "translation"]; unknown names are ConfigErrors."""
    names = [p.strip() for p in policy.replace("+", ",").split(",") if p.strip()]
    for name in names:
        if name not in OPS:
            raise ConfigError(f"unknown augmentation {name!r}{did_you_mean(name, OPS)} "
                              f"(choose from {', '.join(OPS)}, comma-separated)")
    return names


@AUGMENTS.register("diffaugment")
class DiffAugment:
    """The policy's ops in order, each applied per example with probability ``p``.

    ``target`` > 0 turns on ADA's adaptive ``p`` (call :meth:`update` with D's real logits each
    D step); ``p`` then starts at ``p_init``.
    """

    def __init__(self, policy: str = "color,translation,cutout", p: float = 1.0,
                 target: float = 0.0, interval: int = 4, speed: float = 100_000,
                 p_init: float = 0.0):
        self.ops = parse_policy(policy)
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"augmentation probability must be in [0, 1], got {p}")
        self.adaptive = target > 0
        self.p = float(p_init if self.adaptive else p)
        self.target, self.interval, self.speed = float(target), int(interval), float(speed)
        self._sum = 0.0     # running sum of sign(D(real)) since the last adjustment
        self._count = 0     # reals in that sum
        self._calls = 0     # update() calls since the last adjustment

    def __bool__(self) -> bool:
        return bool(self.ops)

    def __call__(self, x: torch.Tensor, rand: Rand | None = None) -> torch.Tensor:
        if x.dim() != 4:
            raise ConfigError(f"DiffAugment works on images N x C x H x W, got shape "
                              f"{tuple(x.shape)}; turn augmentation off for this data")
        rand = rand or _default_rand(x)
        for name in self.ops:
            if self.p >= 1.0:
                x = AUGMENTS.get(name)(x, rand)
            elif self.p > 0.0:
                keep = _u(rand, x, 1, 1, 1) < self.p
                x = torch.where(keep, AUGMENTS.get(name)(x, rand), x)
        return x

    @torch.no_grad()
    def update(self, real_logits: torch.Tensor) -> None:
        """Accumulate ADA's r_t = E[sign D(real)] and adjust ``p`` every ``interval`` calls."""
        if not self.adaptive:
            return
        stats = torch.stack([real_logits.detach().float().sign().sum(),
                             torch.tensor(float(real_logits.numel()),
                                          device=real_logits.device)])
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(stats)  # every rank sees the same r_t, so p stays in step
        self._sum += float(stats[0])
        self._count += int(stats[1])
        self._calls += 1
        if self._calls >= self.interval:
            r_t = self._sum / max(self._count, 1)
            step = self._count / self.speed  # images seen since the last adjustment
            sign = 1.0 if r_t > self.target else -1.0 if r_t < self.target else 0.0
            self.p = min(1.0, max(0.0, self.p + sign * step))
            self.last_rt = r_t
            self._sum, self._count, self._calls = 0.0, 0, 0

    def state_dict(self) -> dict[str, float | int]:
        return {"p": self.p, "sum": self._sum, "count": self._count, "calls": self._calls}

    def load_state_dict(self, state: dict[str, float | int]) -> None:
        self.p = float(state["p"])
        self._sum = float(state.get("sum", 0.0))
        self._count = int(state.get("count", 0))
        self._calls = int(state.get("calls", 0))
