"""A run's ``stats.jsonl``: one JSON record per step that logged anything.

What is logged at a step comes from several places: the trainer's log record (the means of the
log window, ``img_per_s``, ``lr_scale``, ``cpu_s``, warnings the health monitor adds in
``on_log``) and the observers' own numbers (``trainer.write_stats``: the health monitor's
``health/diversity`` and ``mode_collapse`` warnings at a sample step). :class:`StatsFile` keeps
the step's record open while these arrive, merges them (``warnings`` lists are joined), and
writes the record as one line when the step closes, before the step's checkpoint records the
file's size (``stats_bytes``, which a resume cuts the file back to). So a step's numbers are
never split over two lines, and a resumed run writes the same lines as an uninterrupted one.

Lines that belong to no open step are appended as they are: a trainer event of a step that
failed (``{"event": "nonfinite", ...}``) and what an observer writes at the end of the run.
A run that rolled back after a non-finite value writes the steps it re-ran again.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


class StatsFile:
    """``open(step)`` when a step's maths is done, ``add(line)`` for what is logged at it,
    ``close()`` to write it; ``append(line)`` for a line outside any step. ``enabled=False``
    (processes other than the main one) writes nothing."""

    def __init__(self, path: Path, enabled: bool = True):
        self.path = Path(path)
        self.enabled = enabled
        self.record: dict[str, Any] | None = None  # the open step's record

    def open(self, step: int) -> None:
        self.record = {"step": int(step)}

    def is_open_at(self, step: int) -> bool:
        return self.record is not None and self.record["step"] == int(step)

    def add(self, line: dict[str, Any]) -> None:
        rec = self.record
        if rec is None:
            raise RuntimeError("StatsFile.add outside a step: use append")
        for k, v in line.items():
            if k == "warnings" and rec.get("warnings"):
                rec["warnings"] = rec["warnings"] + list(v)
            elif k != "step":
                rec[k] = v

    def close(self) -> None:
        """Write the open record, if anything was logged at its step."""
        rec, self.record = self.record, None
        if rec is not None and len(rec) > 1:
            self.append(rec)

    def append(self, line: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), **line}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
