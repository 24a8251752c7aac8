"""Stacked MNIST mode coverage through the real toolkit: train, sample 26,000, score. One command.

For every preset and seed: ``gankit train PRESET train.seed=S train.threads=1`` (a subprocess,
as a user would run it), 26,000 samples for seeds 0-25999 from gankit's generator loader (the
images ``gankit sample RUN --seeds 0-25999 --npz samples.npz`` writes, without its 26,000-image
grid), and the scorer ``stacked_score.py`` (modes of 1,000 and KL(q || uniform), digits read by
gankit's MNIST classifier). ``--calibrate`` scores 26,000 real stacked examples instead.
Each result is appended as a JSON line to ``benchmarks/modes/stacked_results.jsonl``.

    python benchmarks/modes/run_stacked.py stacked-mnist-dcgan stacked-mnist-wgan-gp \\
        stacked-mnist-pacdcgan --seeds 0 --keep runs/stacked
    python benchmarks/modes/run_stacked.py --calibrate
    python benchmarks/modes/run_stacked.py stacked-mnist-dcgan train.steps=1000  # + overrides

CPU time is the training subprocess's user+system time (``resource.RUSAGE_CHILDREN``); it is
saved as ``train_time.json`` in the run, and ``--reuse`` scores an already trained run (reading
its ``train_time.json`` where there is one) instead of training it again.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from run import child_cpu, gankit  # noqa: E402  (run.py: the ring8/grid25 runner)
from stacked_score import describe, real_images, score_images  # noqa: E402

N_SAMPLES = 26_000


def train(preset: str, run: Path, seed: int, overrides: list[str]) -> dict:
    c0, w0 = child_cpu(), time.time()
    gankit("train", preset, "--out", str(run), f"train.seed={seed}", "train.threads=1",
           "train.progress=false", *overrides)
    t = {"train_cpu_s": round(child_cpu() - c0, 1), "train_wall_s": round(time.time() - w0, 1)}
    (run / "train_time.json").write_text(json.dumps(t))
    return t


def sample(run: Path, n: int):
    """uint8 N x H x W x 3 for seeds 0..n-1, as `gankit sample --npz` writes them."""
    import numpy as np

    from gankit.data.base import to_uint8
    from gankit.sampling import load_generator

    gen = load_generator(run, "cpu")
    x = gen.generate(list(range(n)), batch_size=500)
    images = to_uint8(x).permute(0, 2, 3, 1).numpy()
    np.savez_compressed(run / "samples.npz", images=images, seeds=np.arange(n))
    return images


def record(row: dict) -> None:
    row["time"] = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(HERE / "stacked_results.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("presets", nargs="*", help="presets to train (e.g. stacked-mnist-dcgan), "
                                              "then config overrides (key=value)")
    p.add_argument("--seeds", default="0")
    p.add_argument("--keep", help="keep the runs in this folder")
    p.add_argument("--reuse", action="store_true", help="score runs already in --keep")
    p.add_argument("--calibrate", action="store_true",
                   help="score real stacked data (train split seed 0 = what the models see, "
                        "and test split seed 1)")
    p.add_argument("-n", type=int, default=N_SAMPLES, help="samples per model (26000)")
    a = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    presets = [x for x in a.presets if "=" not in x]
    overrides = [x for x in a.presets if "=" in x]
    if a.calibrate:
        for spec in ("stacked-mnist", "stacked-mnist:test,seed=1"):
            s = score_images(real_images(spec, a.n))
            print(f"real {spec}: {describe(s)}", flush=True)
            record({"real": spec, **s})
    if not presets:
        return 0
    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="stacked-"))
    for preset in presets:
        for seed in [int(s) for s in a.seeds.split(",")]:
            run = base / f"{preset}-s{seed}"
            if a.reuse and (run / "export" / "config.json").is_file():
                tf = run / "train_time.json"
                t = json.loads(tf.read_text()) if tf.is_file() else {}
            else:
                t = train(preset, run, seed, overrides)
            s = score_images(sample(run, a.n))
            cpu = f"{t['train_cpu_s']:.0f}s (wall {t['train_wall_s']:.0f}s)" if t else "unknown"
            print(f"{preset} seed {seed}: {describe(s)}; train CPU {cpu}", flush=True)
            import yaml

            resolved = yaml.safe_load((run / "config.yaml").read_text())
            record({"preset": preset, "seed": seed, "overrides": overrides, "run": str(run),
                    **s, **t, "model": resolved["model"], "train": resolved["train"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
