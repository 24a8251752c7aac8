"""Lazy R1 as an interval phase vs R1 fused into the D loss: faces-stylegan, 600 steps.

Before issue 15, StyleGAN's ``r1_every=k`` added ``k * gamma/2 * R1`` to the D loss of every
k-th D step (a counter inside ``loss()``); now R1 is a ``Dreg`` phase every k steps that shares
D's Adam with the lr and betas corrected by ``mb_ratio = k / (k + 1)`` (stylegan2-ada). This
script measures the difference on the faces-stylegan preset cut to 600 steps (same seed), in
the faces benchmark's substitute feature space (``benchmarks/faces/run.py``: random conv net,
KID over subsets of 500, FID*), 1,000 samples of the EMA generator.

Usage (repository root; the old code from a worktree at the commit before the change)::

    git worktree add /tmp/gankit-old b44d392
    export GANKIT_DATA=/path/to/shared/data OMP_NUM_THREADS=1
    PYTHONPATH=/tmp/gankit-old/src python benchmarks/lazy_r1/run.py train /tmp/lazy_r1/fused
    PYTHONPATH=src python benchmarks/lazy_r1/run.py train /tmp/lazy_r1/phase
    PYTHONPATH=src python benchmarks/lazy_r1/run.py eval /tmp/lazy_r1/fused /tmp/lazy_r1/phase
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def train(out: str) -> None:
    from gankit.config import load_config
    from gankit.train.trainer import train as run

    cfg = load_config("faces-stylegan", [
        "train.steps=600", "train.threads=1", "train.progress=false", "train.sample_every=600",
        "train.checkpoint_every=600", "train.log_every=50", "train.report=false"])
    t0 = time.process_time()
    run(cfg, out)
    Path(out, "cpu_s.json").write_text(json.dumps({"cpu_s": time.process_time() - t0}))


def evaluate(runs: list[str]) -> None:
    sys.path.insert(0, str(HERE.parent / "faces"))
    import run as faces  # the faces benchmark's substitute feature space

    from gankit.sampling import load_generator
    from gankit.utils.tensors import to_uint8

    torch.set_num_threads(1)
    real = faces.load_faces(faces.data_root())
    net = faces.RandomFeatures()
    net.calibrate(real)
    f_ref = net.features(real[2500:])
    for out in runs:
        gen = load_generator(Path(out) / "export", "cpu")
        f = net.features(to_uint8(gen.generate(list(range(100_000, 101_000)), batch_size=250)))
        cpu = json.loads(Path(out, "cpu_s.json").read_text())["cpu_s"] \
            if Path(out, "cpu_s.json").exists() else float("nan")
        k = faces.kid(f, f_ref, subset=500)
        print(f"{out}: KID {k[0]:.4f} +- {k[1]:.4f}  FID* {faces.frechet(f, f_ref):.2f}  "
              f"training CPU {cpu:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("train", "eval"):
        sys.exit(__doc__)
    train(sys.argv[2]) if sys.argv[1] == "train" else evaluate(sys.argv[2:])
