"""Training-health monitor: recognises the classic ways a GAN run fails, while it runs.

:class:`HealthMonitor` is a trainer :class:`~gankit.train.callbacks.Callback`. It reads the
numbers the trainer logs (``d_real`` = mean D(x), ``d_fake`` = mean D(G(z)) as probabilities,
``loss_d``, ``loss_g``, ``grad_norm/D``, ``grad_norm/G``) over a sliding window of log records,
the images of the fixed-seed sample grids (``trainer.last_sample``) and the trainer's events
(``on_event``); it never re-reads the run's files. Its windows and warning history are kept in
checkpoints (``state_dict``), so a resumed run warns as the uninterrupted one would. It
reports:

=============  =========================================================================
kind           condition (defaults; every threshold is a field of the ``health:`` config section)
=============  =========================================================================
d_wins         over the last ``health.window`` records, mean D(G(z)) < ``health.d_fake_low``
               (0.1) and mean D(x) > ``health.d_real_high`` (0.8; one-sided label smoothing
               caps D(x) near 0.9, so 0.9 would miss it): D separates real from fake
               outright. With the ``bce`` loss, a geometric mean of D(G(z)) under
               ``health.d_fake_geo_low`` (0.01) also counts (exp(-loss_g) of the median
               record, as that G loss is -E log D(G(z))): an unstable D can reject most fakes
               with certainty and accept a few, which keeps the arithmetic mean up.
               G's gradient norm is reported with it: it *vanishes* with the saturating
               loss, and blows up instead with the non-saturating loss (the default), so it
               is evidence, not a requirement.
d_collapsed    D is fooled because it has stopped learning: D(x) and D(G(z)) both within
               ``health.collapse_band`` (0.05) of 0.5 with D's gradient norm under
               ``health.d_grad_low`` (1e-3), or mean D(G(z)) > ``health.d_fake_high`` (0.9).
mode_collapse  at a sample step, the mean pairwise L2 distance of the fixed-seed fakes divided
               by that of a fixed real batch is under ``health.diversity_min`` (0.03) or has
               dropped under ``health.diversity_drop`` (0.5) x its best so far (an untrained G
               starts with little diversity, so a low value alone is weak evidence), or the
               share of fakes with a near-duplicate (another fake closer than 5% of the real
               batch's mean pairwise distance) exceeds ``health.duplicate_max`` (0.5).
nonfinite      the trainer hit a NaN/Inf loss or gradient (its ``{"event": "nonfinite"}``
               event): it rolled back or stopped.
oscillation    over the last ``2 * health.window`` records a loss swings with amplitude
               (std / (|mean| + 0.1)) above ``health.osc_amplitude`` (0.5) and its successive
               changes flip direction in at least ``health.osc_flips`` (80%) of the pairs, or
               the loss itself changes sign that often (critic losses).
=============  =========================================================================

A warning is logged (``logging.warning``) and added to the log record (key ``warnings``, a
list of ``{"kind", "step", "message", "hint"}``) when its condition becomes true, then at most
once every ``health.cooldown`` log records while it stays true: no spam. The diversity check
adds its numbers to each sample step's ``stats.jsonl`` record (``trainer.write_stats``:
``health/diversity``, ``health/duplicates`` and any ``mode_collapse`` warning).

The D-output checks (d_wins, d_collapsed) run only for models that declare their logged
``d_real``/``d_fake`` to be probabilities (``d_output_of(cfg) == "prob"``, see
:mod:`gankit.models.base`: ``gan``, ``dcgan``, ``cgan``, ... with the ``bce`` or ``lsgan``
loss). Other models log logits (stylegan), critic scores (hinge, wasserstein) or no D outputs;
for them the diversity, non-finite and oscillation checks (on ``loss_d`` and ``loss_g``, which
the trainer logs for every model with D and G phases) still run.
"""
from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

from gankit.train.callbacks import Callback

log = logging.getLogger("gankit.health")

HINTS = {
    "d_wins": "the discriminator wins outright, so G gets no useful signal. Lower train.lr_d "
              "(or raise train.lr_g), use fewer train.d_steps, add label smoothing "
              "(model.label_smoothing=0.9), dropout or a gradient penalty in D",
    "d_wins_smoothed": "the discriminator wins outright, so G gets no useful signal. Lower "
                       "train.lr_d (or raise train.lr_g), use fewer train.d_steps, more D "
                       "dropout or a gradient penalty in D",
    "d_collapsed": "the discriminator has stopped telling real from fake, so G's progress is "
                   "not real progress. Raise train.lr_d or train.d_steps, check D is not too "
                   "small, or use a loss with a gradient penalty",
    "mode_collapse": "the generator produces (nearly) the same images for different z. Try "
                     "a minibatch-std layer, a WGAN-GP or hinge loss, a lower train.lr_g, or "
                     "resume from an earlier checkpoint",
    "nonfinite": "a loss or gradient became NaN/Inf. Lower the learning rates, set "
                 "train.grad_clip, use train.amp=off, or train.nan_policy=rollback",
    "oscillation": "the losses swing back and forth instead of settling: the players "
                   "overshoot each other. Lower both learning rates, lower train.beta1 "
                   "(e.g. 0.0-0.5), or enable an EMA of G (train.ema_decay=0.999)",
}


def _mean(xs) -> float:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def _std(xs) -> float:
    m = _mean(xs)
    return math.sqrt(_mean([(x - m) ** 2 for x in xs])) if xs else float("nan")


def oscillation_score(values: list[float]) -> tuple[float, float]:
    """(relative amplitude, share of direction flips or sign changes) of a loss series."""
    v = [x for x in values if math.isfinite(x)]
    if len(v) < 4:
        return 0.0, 0.0
    amp = _std(v) / (abs(_mean(v)) + 0.1)
    diffs = [b - a for a, b in zip(v, v[1:])]
    flips = sum(1 for a, b in zip(diffs, diffs[1:]) if a * b < 0) / (len(diffs) - 1)
    signs = sum(1 for a, b in zip(v, v[1:]) if a * b < 0) / (len(v) - 1)
    return amp, max(flips, signs)


def diversity(fakes, reals) -> tuple[float, float]:
    """(mean pairwise distance of fakes / that of reals, near-duplicate rate of fakes).

    ``fakes`` and ``reals`` are N x ... float tensors (N >= 2) on the same scale.
    """
    import torch

    f = fakes.flatten(1).double()
    r = reals.flatten(1).double()
    df, dr = torch.cdist(f, f), torch.cdist(r, r)
    n, m = f.shape[0], r.shape[0]
    mean_f = df.sum() / (n * (n - 1))
    mean_r = dr.sum() / (m * (m - 1))
    if mean_r <= 0:
        return float("nan"), float("nan")
    nearest = df.clone().fill_diagonal_(float("inf")).min(dim=1).values
    dup = (nearest < 0.05 * mean_r).double().mean()
    return float(mean_f / mean_r), float(dup)


def to_8bit(images):
    """Images in [-1, 1] at the precision of a saved PNG (so fakes and reals compare alike)."""
    return images.detach().float().cpu().clamp(-1, 1).add(1).mul(127.5).round().div(127.5).sub(1)


class HealthMonitor(Callback):
    """Watches a run for failure modes and warns with the step and a plain-language hint."""

    def __init__(self, cfg: Any):
        from gankit.config import HealthConfig
        from gankit.registry import declared_d_output

        self.h = getattr(cfg, "health", None) or HealthConfig()  # thresholds (health: section)
        model = getattr(cfg, "model", None)
        # the model's own declaration of what d_real / d_fake are (models/base.py)
        self.d_output = declared_d_output(model) if model is not None else None
        self.probs = self.d_output == "prob"
        # exp(-loss_g) is the geometric mean of D(G(z)) only for the non-saturating bce loss
        self.bce = self.probs and getattr(model, "loss", None) == "bce"
        self.hints = dict(HINTS)
        if float(getattr(model, "label_smoothing", 1.0) or 1.0) < 1.0:  # already smoothed
            self.hints["d_wins"] = HINTS["d_wins_smoothed"]
        self.window = int(self.h.window)
        self.records: deque[dict[str, Any]] = deque(maxlen=2 * self.window)
        self.last_warned: dict[str, int] = {}   # kind -> index of the record it was warned at
        self.active: set[str] = set()
        self.n_records = 0
        self.pending_numbers: dict[str, float] = {}
        self.warnings: list[dict[str, Any]] = []  # every warning of this run, in order
        self._events: list[dict[str, Any]] = []  # trainer events not yet reported
        self._real_ref = None
        self.best_diversity = 0.0

    # ------------------------------------------------------------------ state (checkpoints)
    def state_dict(self) -> dict[str, Any]:
        return {"records": list(self.records), "last_warned": dict(self.last_warned),
                "active": sorted(self.active), "n_records": self.n_records,
                "warnings": list(self.warnings), "best_diversity": self.best_diversity}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.records.clear()
        self.records.extend(state.get("records", []))
        self.last_warned = dict(state.get("last_warned", {}))
        self.active = set(state.get("active", []))
        self.n_records = int(state.get("n_records", 0))
        self.warnings = list(state.get("warnings", []))
        self.best_diversity = float(state.get("best_diversity", 0.0))

    # ------------------------------------------------------------------ callback hooks
    def on_event(self, trainer: Any, event: dict[str, Any]) -> None:
        if event.get("event") == "nonfinite":
            self._events.append(event)

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self.n_records += 1
        self.records.append({k: v for k, v in record.items() if isinstance(v, (int, float))})
        step = int(record.get("step", trainer.step))
        found = self._nonfinite_events(trainer) + self._check_d_outputs(step)
        found += self._check_oscillation(step)
        emitted = self._emit(found, step, ("d_wins", "d_collapsed", "oscillation"))
        if emitted:
            record.setdefault("warnings", []).extend(emitted)

    def on_sample(self, trainer: Any, path: Any) -> None:
        # its numbers, in the record of the step of the grid it measured
        found = self._check_diversity(trainer, getattr(trainer, "last_sample", None))
        emitted = self._emit(found, trainer.step, ("mode_collapse",))
        if self.pending_numbers or emitted:
            line: dict[str, Any] = {"step": trainer.step, **self.pending_numbers}
            if emitted:
                line["warnings"] = emitted
            self.pending_numbers = {}
            trainer.write_stats(line)

    def on_end(self, trainer: Any) -> None:
        left = self._emit(self._nonfinite_events(trainer), trainer.step, ())
        if left:
            trainer.write_stats({"step": trainer.step, "warnings": left})

    # ------------------------------------------------------------------ checks
    def _emit(self, found: list[tuple], step: int,
              checked: tuple[str, ...]) -> list[dict[str, Any]]:
        """Warnings for kinds whose condition just became true, or stayed true a cooldown.

        ``checked`` are the kinds this call evaluated: their state is replaced by ``found``.
        """
        out = []
        for kind, message, *at in found:  # (kind, message[, step it happened at])
            last = self.last_warned.get(kind)
            recent = last is not None and self.n_records - last < self.h.cooldown
            if kind != "nonfinite" and kind in self.active and recent:
                continue
            if any(w["kind"] == kind for w in out):
                continue
            self.last_warned[kind] = self.n_records
            w = {"kind": kind, "step": at[0] if at else step, "message": message,
                 "hint": self.hints[kind]}
            log.warning("health warning at step %d [%s]: %s. Hint: %s", w["step"], kind,
                        message, w["hint"])
            out.append(w)
            self.warnings.append(w)
        self.active = (self.active - set(checked)) | {f[0] for f in found}
        return out

    def _nonfinite_events(self, trainer: Any) -> list[tuple[str, str]]:
        found = []
        events, self._events = self._events, []
        for r in events:
            if r.get("event") == "nonfinite":
                what = "rolled back to the last checkpoint with halved learning rates" \
                    if trainer.cfg.train.nan_policy == "rollback" else "training stopped"
                found.append(("nonfinite", f"{r.get('what', 'non-finite value')} at step "
                                           f"{r.get('step')} in phase {r.get('phase')}; {what}",
                              r.get("step")))
        return found

    def _series(self, key: str, n: int | None = None) -> list[float]:
        recs = list(self.records)[-(n or self.window):]
        return [float(r[key]) for r in recs if key in r]

    def _check_d_outputs(self, step: int) -> list[tuple[str, str]]:
        h = self.h
        real, fake = self._series("d_real"), self._series("d_fake")
        if len(real) < self.window or len(fake) < self.window:
            return []
        if not self.probs:
            return []  # logits or critic scores: these thresholds do not apply
        mr, mf = _mean(real), _mean(fake)
        g_norm = self._series("grad_norm/G", 2 * self.window)
        first = self._series("grad_norm/G", 2 * self.window)[:1]
        found = []
        loss_g = self._series("loss_g")
        # the median record: one exploded step must not decide it
        geo = (math.exp(-sorted(loss_g)[len(loss_g) // 2])
               if self.bce and len(loss_g) == self.window else None)
        rejected = mf < h.d_fake_low or (geo is not None
                                                 and geo < h.d_fake_geo_low)
        if rejected and mr > h.d_real_high:
            if g_norm and g_norm[-1] < 1e-3:
                g_txt = f"G's gradient norm has vanished ({g_norm[-1]:.2g})"
            elif g_norm:
                g_txt = (f"G's gradient norm is {g_norm[-1]:.3g}"
                         + (f" (was {first[0]:.3g} {len(g_norm) - 1} records earlier)"
                            if first and len(g_norm) > 1 else ""))
            else:
                g_txt = "G's gradient norm was not logged"
            geo_txt = f" (geometric mean {geo:.2g})" if geo is not None else ""
            found.append(("d_wins", f"D(x) = {mr:.3f} and D(G(z)) = {mf:.3f}{geo_txt} over the "
                                    f"last {len(real)} log records: the discriminator wins; "
                                    f"{g_txt}"))
        d_grad = self._series("grad_norm/D")
        band = h.collapse_band
        collapsed = (all(abs(v - 0.5) < band for v in real + fake) and d_grad
                     and max(d_grad) < h.d_grad_low)
        if collapsed:
            found.append(("d_collapsed", f"D outputs ~0.5 for everything (D(x) = {mr:.3f}, "
                                         f"D(G(z)) = {mf:.3f}) and its gradient norm is "
                                         f"{max(d_grad):.2g}: the discriminator has collapsed"))
        elif mf > h.d_fake_high:
            found.append(("d_collapsed", f"D(G(z)) = {mf:.3f} over the last {len(fake)} log "
                                         f"records: the generator fools the discriminator"))
        return found

    def _check_oscillation(self, step: int) -> list[tuple[str, str]]:
        h = self.h
        found = []
        for key in ("loss_d", "loss_g"):
            v = self._series(key, 2 * self.window)
            if len(v) < 2 * self.window:
                continue
            amp, flips = oscillation_score(v)
            if amp > h.osc_amplitude and flips >= h.osc_flips:
                found.append(("oscillation", f"{key} swings (relative amplitude {amp:.2f}, "
                                             f"{flips:.0%} direction flips over the last "
                                             f"{len(v)} log records)"))
                break
        return found

    def _check_diversity(self, trainer: Any, images: Any) -> list[tuple[str, str]]:
        h = self.h
        model = trainer.model
        caps = getattr(model, "capabilities", frozenset())
        info = model.info
        if (not model.latent_dim or "translate" in caps or info.kind != "image"
                or trainer.fixed_z is None or trainer.fixed_z.shape[0] < 4):
            return []
        real = trainer.fixed_batch.get("real")
        if real is None:
            return []
        if images is None or images.dim() != 4 or images.shape[0] < 4:
            return []
        fakes = to_8bit(images)  # as the grid shows them
        if self._real_ref is None:
            self._real_ref = to_8bit(real)
        ratio, dup = diversity(fakes, self._real_ref)
        if not math.isfinite(ratio):
            return []
        self.pending_numbers = {"health/diversity": round(ratio, 4),
                                "health/duplicates": round(dup, 4)}
        best, self.best_diversity = self.best_diversity, max(self.best_diversity, ratio)
        dropped = ratio < h.diversity_drop * best
        if ratio < h.diversity_min or dup > h.duplicate_max or dropped:
            why = f", down from {best:.2f} earlier in the run" if dropped else ""
            return [("mode_collapse", f"the fixed-seed samples are {ratio:.2f}x as diverse as "
                                      f"real images (mean pairwise distance){why}, and {dup:.0%} "
                                      f"of them have a near-duplicate")]
        return []
