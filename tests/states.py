"""Helpers shared by tests (tests/ is on sys.path via its conftest): checkpoint comparisons for
the resume tests, small run configs, and loading a benchmark script as a module."""
from __future__ import annotations

from pathlib import Path

import torch

from gankit.train.callbacks import Callback
from gankit.runfiles.checkpoint import load_checkpoint


class Crash(Callback):
    """Simulates a crash right after the checkpoint of step ``at``."""

    def __init__(self, at):
        self.at = at

    def on_checkpoint(self, trainer, path):
        if trainer.step == self.at:
            raise KeyboardInterrupt


def latest(run: Path) -> dict:
    return load_checkpoint(Path(run) / "checkpoints" / "latest.pt")


def assert_states_equal(a: dict, b: dict) -> None:
    """Bit-identical weights, EMA weights, Adam state, loader, noise and step."""
    assert a["step"] == b["step"], (a["step"], b["step"])
    for net in a["nets"]:
        for k, v in a["nets"][net].items():
            assert torch.equal(v, b["nets"][net][k]), f"{net}.{k} differs"
    for net in a["ema"] or {}:
        for k, v in a["ema"][net].items():
            assert torch.equal(v, b["ema"][net][k]), f"ema {net}.{k} differs"
    for ph in a["optimizers"]:
        sa, sb = a["optimizers"][ph]["state"], b["optimizers"][ph]["state"]
        for i in sa:
            for k in sa[i]:
                assert torch.equal(torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k])), \
                    f"adam {ph}.{i}.{k} differs"
    assert a["loader"] == b["loader"]
    assert torch.equal(a["noise"]["gen"], b["noise"]["gen"])


def tiny_gan_config(**train):
    """A 16-unit MLP GAN on 8x8 synthetic data: a run of a few steps that takes well under a
    second; ``train`` overrides the train section."""
    from gankit.config import config_from_dict
    return config_from_dict({
        "model": {"name": "gan", "g_hidden": [16], "d_hidden": [16], "z_dim": 4},
        "data": {"dataset": "synthetic:32", "resolution": 8},
        "train": {"steps": 4, "batch_size": 8, "log_every": 2, "sample_every": 2,
                  "checkpoint_every": 4, "progress": False, "threads": 1, "grid_size": 4,
                  **train}})


def stream_run_config(spec, steps=6, **data):
    """A small MLP GAN on 16x16 images from ``spec`` with flips, dropout, 2 D steps and an EMA:
    every source of randomness a resumed or streamed run must reproduce."""
    from gankit.config import config_from_dict
    return config_from_dict({
        "model": {"name": "gan", "g_hidden": [32], "d_hidden": [32], "z_dim": 8,
                  "d_dropout": 0.3},
        "data": {"dataset": spec, "resolution": 16, "flip": True, **data},
        "train": {"steps": steps, "batch_size": 8, "d_steps": 2, "ema_decay": 0.9,
                  "log_every": 2, "sample_every": 0, "checkpoint_every": 3, "progress": False,
                  "threads": 1, "grid_size": 4},
    })


def assert_resumes_exactly(cfg, root: Path, at: int) -> None:
    """Trains ``cfg`` into root/full, and into root/cut with a crash after the checkpoint of
    step ``at`` and a ``--resume auto``; the two final states must be equal."""
    import pytest

    from gankit.train.trainer import train
    train(cfg, root / "full")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, root / "cut", callbacks=[Crash(at)])
    assert latest(root / "cut")["step"] == at
    train(cfg, root / "cut", resume="auto")
    assert_states_equal(latest(root / "full"), latest(root / "cut"))


def load_benchmark(relpath: str):
    """The benchmark script ``benchmarks/<relpath>`` (e.g. ``modes/score.py``) as a module."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / relpath
    name = "benchmark_" + relpath.removesuffix(".py").replace("/", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
