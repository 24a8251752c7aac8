"""Exponential moving average of generator weights (Karras et al. 2018; Yazici et al. 2019)."""
from __future__ import annotations

import copy
from functools import partial

import torch
from torch import nn

from gankit.nn.average import average_into, recalibrate_batchnorm

# latents of the batch-norm recalibration: fixed seeds far from the ones users sample
CALIBRATION_SEED = 1 << 30
CALIBRATION_SAMPLES = 512


class EMA:
    r"""Keeps :math:`\bar\theta \leftarrow \beta\bar\theta + (1-\beta)\theta` for each
    generator net.

    Before ``start`` the average is a plain copy, so early noisy weights are not averaged in;
    with ``rampup`` the average's half-life grows with the steps averaged (a short memory early,
    when G changes fast, the full ``decay`` later).
    Buffers (BN statistics, StyleGAN's mean w) are copied, not averaged; before the average is
    used (samples, checkpoints, export), :meth:`refresh` measures the batch-norm statistics of
    a latent-driven generator on the averaged weights themselves.
    """

    def __init__(self, nets: dict[str, nn.Module], decay: float, start: int = 0,
                 rampup: float = 0.0):
        self.decay, self.start, self.rampup = decay, start, rampup
        self.nets = {k: copy.deepcopy(v).requires_grad_(False).eval() for k, v in nets.items()}
        self._stale = True
        self._calibration = None

    @classmethod
    def from_config(cls, nets: dict[str, nn.Module], t) -> EMA | None:
        """The EMA ``t`` (the train config) asks for, or None with ``ema_decay`` 0."""
        return cls(nets, t.ema_decay, t.ema_start, t.ema_rampup) if t.ema_decay > 0 else None

    def beta(self, step: int) -> float:
        """The averaging weight at ``step``: 0 before ``start``; then ``decay``, or with
        ``rampup`` the decay whose half-life is ``rampup`` times the steps averaged so far,
        capped at ``decay``'s own half-life (StyleGAN2-ADA's ``ema_rampup``)."""
        if step < self.start:
            return 0.0
        if self.rampup <= 0 or self.decay <= 0:
            return self.decay
        half_life = self.rampup * (step - self.start + 1)
        return min(self.decay, 0.5 ** (1.0 / half_life))

    def update(self, nets: dict[str, nn.Module], step: int) -> None:
        beta = self.beta(step)
        for name, net in nets.items():
            average_into(self.nets[name], net, beta)
        self._stale = True

    @torch.no_grad()
    def refresh(self, model) -> None:
        """Batch-norm statistics of the averaged ``G`` measured on 512 fixed latents (once per
        update; a no-op for generators without batch norm or without a latent input). The
        training RNG is not touched, so a run that refreshed equals one that did not."""
        if not self._stale:
            return
        self._stale = False
        if tuple(self.nets) != ("G",) or not model.latent_dim:
            return
        G = self.nets["G"]
        device = next(G.parameters()).device
        if self._calibration is None:
            seeds = list(range(CALIBRATION_SEED, CALIBRATION_SEED + CALIBRATION_SAMPLES))
            labels = model.sample_labels(seeds)
            self._calibration = (model.make_latents(seeds).to(device),
                                 None if labels is None else labels.to(device))
        z, labels = self._calibration

        def run(lo: int) -> None:
            model.generate(z[lo:lo + 128], None if labels is None else labels[lo:lo + 128], G=G)

        devices = [device] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            recalibrate_batchnorm(G, [partial(run, lo) for lo in range(0, len(z), 128)])

    def state_dict(self) -> dict[str, dict]:
        return {k: v.state_dict() for k, v in self.nets.items()}

    def load_state_dict(self, state: dict[str, dict]) -> None:
        for k, v in state.items():
            self.nets[k].load_state_dict(v)
        self._stale = False  # saved after a refresh
