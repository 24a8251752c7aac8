"""The observers a run gets by default, in order (the trainer calls :func:`build_callbacks`).

In this order: the health monitor and periodic evaluation (they add to records and files), the
callbacks given to ``train(..., callbacks=[...])``, the model card of the run's export (written
at the end, after the export), then the sinks that only read: experiment trackers
(``train.loggers``, :mod:`gankit.train.trackers`) and the report. ``train(...,
default_callbacks=False)`` runs only the given ones.

This module is the one place where ``train/`` plugs in observers that live above it
(``metrics.training``, ``export.card``), lazily: ``tests/test_imports.py`` lists these arrows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit.train.callbacks import Callback


class ModelCardWriter(Callback):
    """Writes ``export/README.md`` (and its sample grid) once the trainer exported the run."""

    def on_end(self, trainer: Any) -> None:
        from gankit.export.card import write_card
        from gankit.sampling.loading import load_generator

        folder = Path(trainer.out) / "export"
        write_card(folder, trainer.out, load_generator(folder, "cpu"))


def default_callbacks(cfg: Any) -> list[Callback]:
    """The callbacks every run gets, as the config chooses them."""
    return build_callbacks(cfg, [])


def build_callbacks(cfg: Any, extra: list[Callback] | None = None,
                    defaults: bool = True) -> list[Callback]:
    """The default callbacks with ``extra`` (the user's) added after the observers that write
    (health, evaluation) and before the model card and the sinks (trackers, report), so that
    these see what the others added; ``defaults=False``: ``extra`` alone."""
    extra = list(extra or [])
    if not defaults:
        return extra
    out: list[Callback] = []
    if cfg.train.health:
        from gankit.train.health import HealthMonitor

        out.append(HealthMonitor(cfg))
    if getattr(getattr(cfg, "eval", None), "every", 0):
        from gankit.metrics.training import EvalCallback

        out.append(EvalCallback(cfg.eval))
    out += extra
    out.append(ModelCardWriter())
    if getattr(cfg.train, "loggers", None):
        from gankit.train.trackers import make_trackers

        out += make_trackers(cfg)
    if cfg.train.report:  # last, so that it sees what the other callbacks added
        from gankit.train.report import ReportWriter

        out.append(ReportWriter())
    return out
