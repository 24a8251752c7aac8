"""A run's progress on its console: a bar on a terminal, plain lines everywhere else.

On a terminal (or in a notebook) :class:`Progress` shows a tqdm bar with the latest losses. When
the stream is not a terminal (``nohup``, SLURM, ``2> log``), bar refreshes would fill the log
with carriage-return updates, so it writes one plain line per log step instead::

    step 150/2000 (8%)  kimg 9.6  1234 img/s  loss_d 1.38  loss_g 0.68  elapsed 12s  ETA 2m28s

``elapsed`` counts from the start of this process's training; the ETA is the remaining steps at
the pace measured since then (or since the last rollback), checkpoints and samples included.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def is_interactive(stream: Any) -> bool:
    """True for a terminal, or inside a Jupyter kernel (tqdm draws a widget there)."""
    try:
        if stream.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return "ipykernel" in sys.modules


def duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h07m``, ``3d04h``."""
    s = int(max(seconds, 0) + 0.5)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


class Progress:
    """``update()`` after each step, ``log(record)`` at each log step, ``rewind(step)`` after a
    rollback, ``close()`` at the end. ``enabled=False`` shows nothing."""

    def __init__(self, total: int, initial: int = 0, enabled: bool = True,
                 stream: TextIO | None = None):
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.step = initial
        self.bar = None
        self.plain = False
        if enabled and is_interactive(self.stream):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True,
                            file=self.stream)
        else:
            self.plain = enabled
        self._start = self._t0 = time.perf_counter()
        self._step0 = initial

    def rewind(self, step: int) -> None:
        """Restart the pace measurement at ``step`` (a start, a resume, a rollback)."""
        self.step = self._step0 = step
        self._t0 = time.perf_counter()
        if self.bar is not None:
            self.bar.n = step
            self.bar.refresh()

    def update(self) -> None:
        self.step += 1
        if self.bar is not None:
            self.bar.update(1)

    def log(self, record: dict[str, Any]) -> None:
        losses = {k: v for k, v in record.items() if k.startswith(("loss", "d_"))
                  and isinstance(v, (int, float))}
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
        elif self.plain:
            self.stream.write(self.line(record) + "\n")
            self.stream.flush()

    def line(self, record: dict[str, Any]) -> str:
        """The plain line for ``record`` (a stats.jsonl log record)."""
        step = int(record.get("step", self.step))
        parts = [f"step {step}/{self.total} ({100 * step / max(self.total, 1):.0f}%)"]
        if "images_seen" in record:
            kimg = record["images_seen"] / 1000
            parts.append(f"kimg {kimg:.1f}" if kimg >= 10 else f"kimg {kimg:.3f}")
        if "img_per_s" in record:
            parts.append(f"{record['img_per_s']:.0f} img/s")
        parts += [f"{k} {v:.4g}" for k, v in record.items()
                  if k.startswith("loss") and isinstance(v, (int, float))]
        now = time.perf_counter()
        parts.append(f"elapsed {duration(now - self._start)}")
        done = step - self._step0
        if 0 < done and step < self.total:
            parts.append(f"ETA {duration((now - self._t0) / done * (self.total - step))}")
        return "  ".join(parts)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
