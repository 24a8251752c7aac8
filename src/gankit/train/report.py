"""The report observer: keeps a run's ``report.html`` current while it trains (the page
itself is rendered by :mod:`gankit.runfiles.report`, which ``gankit report`` and the studio use
too)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from gankit.runfiles.report import RunData, write_report
from gankit.train.callbacks import Callback


class ReportWriter(Callback):
    """Keeps ``report.html`` current: rewritten at sample steps, when periodic evaluation sends
    a ``metrics`` event, and at the end of a run."""

    def __init__(self):
        self.data: RunData | None = None

    def _write(self, trainer: Any) -> None:
        if self.data is None or self.data.dir != Path(trainer.out):
            self.data = RunData(trainer.out)
        write_report(trainer.out, self.data, trainer.cfg.train.report_max_grids)

    def on_sample(self, trainer: Any, path: Any) -> None:
        self._write(trainer)

    def on_event(self, trainer: Any, event: dict[str, Any]) -> None:
        # a new evaluation: show it without waiting for the next sample step
        if event.get("event") == "metrics":
            self._write(trainer)

    def on_end(self, trainer: Any) -> None:
        self._write(trainer)

    def on_error(self, trainer: Any, error: BaseException) -> None:
        self._write(trainer)  # so the page shows the event that stopped the run
