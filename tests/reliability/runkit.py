"""Helpers shared by the fault-injection tests: tiny run configs, child processes, comparisons.

(Named ``runkit`` rather than ``helpers``/``conftest`` so that it cannot clash with another test
folder's module of the same name under pytest's default import mode.)
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml


SRC = str(Path(__file__).resolve().parents[2] / "src")


def tiny_raw(**train) -> dict:
    """A run of a few milliseconds per step that touches every piece of state a resume restores:
    dropout (torch RNG), flips (loader RNG), latents (noise RNG), EMA, Adam moments, 2 D steps."""
    return {
        "model": {"name": "gan", "g_hidden": [32], "d_hidden": [32], "z_dim": 8,
                  "d_dropout": 0.3},
        "data": {"dataset": "synthetic:64", "resolution": 16, "flip": True},
        "train": {"steps": 24, "batch_size": 8, "d_steps": 2, "ema_decay": 0.9,
                  "log_every": 2, "sample_every": 10, "checkpoint_every": 4,
                  "keep_checkpoints": 2, "progress": False, "threads": 1, "grid_size": 4,
                  "amp": "off", "device": "cpu", **train},
    }


def write_yaml(path: Path, raw: dict) -> str:
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def stats_records(run: Path) -> list[dict]:
    """stats.jsonl without the fields that depend on the wall clock."""
    out = []
    for line in (Path(run) / "stats.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec.pop("time", None)
        rec.pop("img_per_s", None)
        rec.pop("cpu_s", None)
        out.append(rec)
    return out


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env["OMP_NUM_THREADS"] = "1"
    return env


def _cli_child(argv: list[str]) -> None:
    from gankit.cli import main

    sys.exit(main(argv))


class Child:
    """``gankit ARGV`` in another process: a fresh interpreter (``fork=False``, what a user
    runs) or a fork of this one (``fork=True``: no interpreter start-up, for the fast tier)."""

    def __init__(self, argv: list[str], fork: bool, log: Path):
        self.fork = fork
        if fork:
            import torch._dynamo  # noqa: F401 - imported lazily by optimizers; fork inherits it

            self.proc = mp.get_context("fork").Process(target=_cli_child, args=(argv,))
            self.proc.start()
            self.pid = self.proc.pid
        else:
            with open(log, "w") as f:
                self.proc = subprocess.Popen([sys.executable, "-m", "gankit", *argv],
                                             env=child_env(), stdout=f, stderr=subprocess.STDOUT)
            self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.is_alive() if self.fork else self.proc.poll() is None

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float = 120) -> int:
        if self.fork:
            self.proc.join(timeout)
            return self.proc.exitcode
        return self.proc.wait(timeout)


def wait_for(pred, child: Child, timeout: float = 120, poll: float = 0.001) -> bool:
    """Poll ``pred()`` until true (True) or the child ended / time ran out (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if not child.alive():
            return pred()
        time.sleep(poll)
    return False
