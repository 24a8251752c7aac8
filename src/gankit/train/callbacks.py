"""Trainer callbacks: observers of a run (health checks, evaluation, reports).

A callback never changes the maths; it reads what the trainer hands it. The trainer calls, on
the main process only: ``on_start(trainer)``, ``on_log(trainer, record)`` with the numbers about
to be written to stats.jsonl (a callback may add keys, e.g. warnings), ``on_sample(trainer, path)``,
``on_checkpoint(trainer, path)``, ``on_end(trainer)``, and ``on_error(trainer, error)`` when
a run stops on an error it reports (e.g. a non-finite loss).
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
    """The callbacks every run gets (extended as monitoring and evaluation features land)."""
    out: list[Callback] = []
    if cfg.train.health:
        from gankit.train.health import HealthMonitor

        out.append(HealthMonitor(cfg))
    if cfg.train.report:  # last, so that it sees what the other callbacks added
        from gankit.train.report import ReportWriter

        out.append(ReportWriter())
    return out
