"""Trainer callbacks: observers of a run (health checks, evaluation, reports).

A callback never changes the maths; it reads what the trainer hands it and never re-reads the
run's files or touches the trainer's private members. The trainer calls, on the main process
only: ``on_start(trainer)``, ``on_log(trainer, record)`` with the numbers about to be written to
stats.jsonl (a callback may add keys, e.g. warnings), ``on_sample(trainer, path)`` (the grid's
images, N x C x H x W in [-1, 1], are ``trainer.last_sample``), ``on_checkpoint(trainer,
path)``, ``on_event(trainer, event)`` for events outside the log records (``{"event":
"nonfinite", "step", "phase", "what"}`` from the trainer, ``{"event": "metrics", "step", ...}``
from periodic evaluation, sent with ``trainer.emit``, and ``{"event": "stats", "line": {...}}``
for what ``trainer.write_stats`` adds to stats.jsonl outside ``on_log``), ``on_end(trainer)``, and
``on_error(trainer, error)`` when a run stops on an error it reports (e.g. a non-finite loss)
or is interrupted (Ctrl-C). A callback that logs numbers of its own uses
``trainer.write_stats(line)``: a line of the current step joins that step's one record.

A callback with state that must survive a resume returns it from ``state_dict()`` (primitives,
lists, dicts and tensors: checkpoints load with ``weights_only=True``); the trainer keeps it in
every checkpoint under the callback's ``state_key`` (default: its class name) and gives it back
to ``load_state_dict`` when a run resumes (not on a rollback after a non-finite value: the
monitor keeps what it saw).

Which callbacks a run gets, in which order, is :mod:`gankit.train.observers`
(``build_callbacks``).
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

    def on_event(self, trainer: Any, event: dict[str, Any]) -> None:
        """An event outside the log records (see the module docstring)."""

    def on_end(self, trainer: Any) -> None:
        pass

    def on_error(self, trainer: Any, error: BaseException) -> None:
        """The run is stopping with ``error`` (e.g. a non-finite loss); outputs stay as they are."""

    @property
    def state_key(self) -> str:
        return type(self).__name__

    def state_dict(self) -> dict[str, Any] | None:
        """State to keep in checkpoints (None: nothing)."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
