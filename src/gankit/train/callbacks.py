"""Trainer callbacks: observers of a run (health checks, evaluation, reports).

A callback never changes the maths; it reads what the trainer hands it. The trainer calls, on
the main process only: ``on_start(trainer)``, ``on_log(trainer, record)`` with the numbers about
to be written to stats.jsonl (a callback may add keys, e.g. warnings), ``on_sample(trainer, path)``,
``on_checkpoint(trainer, path)``, ``on_end(trainer)``, and ``on_error(trainer, error)`` when
a run stops on an error it reports (e.g. a non-finite loss) or is interrupted (Ctrl-C).

A run's callbacks are, in this order (:func:`build_callbacks`): the health monitor and periodic
evaluation (they add to records and files), the callbacks given to ``train(...,
callbacks=[...])``, then the sinks that only read: experiment trackers (``train.loggers``,
:mod:`gankit.train.trackers`) and the report. ``train(..., default_callbacks=False)`` runs only
the given ones.
"""
from __future__ import annotations

from typing import Any


class Callback:
    def on_start(self, trainer: Any) -> None:
        pass

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        pass

    def on_sample(self, trainer: Any, path: Any) -> None:
        pass

    def on_checkpoint(self, trainer: Any, path: Any) -> None:
        pass

    def on_end(self, trainer: Any) -> None:
        pass

    def on_error(self, trainer: Any, error: BaseException) -> None:
        """The run is stopping with ``error`` (e.g. a non-finite loss); outputs stay as they are."""


def default_callbacks(cfg: Any) -> list[Callback]:
    """The callbacks every run gets, as the config chooses them."""
    return build_callbacks(cfg, [])


def build_callbacks(cfg: Any, extra: list[Callback] | None = None,
                    defaults: bool = True) -> list[Callback]:
    """The default callbacks with ``extra`` (the user's) added after the observers that write
    (health, evaluation) and before the sinks (trackers, report), so that these see what the
    others added; ``defaults=False``: ``extra`` alone."""
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
    if getattr(cfg.train, "loggers", None):
        from gankit.train.trackers import make_trackers

        out += make_trackers(cfg)
    if cfg.train.report:  # last, so that it sees what the other callbacks added
        from gankit.train.report import ReportWriter

        out.append(ReportWriter())
    return out
