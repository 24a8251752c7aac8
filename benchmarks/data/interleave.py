"""Streaming vs in-memory images/s, interleaved window by window in one training process.

    OMP_NUM_THREADS=1 python benchmarks/data/interleave.py --steps 640 --window 20 --workers 1
    # from a packed archive of the same folder (gankit data pack DIR set.zip [--format raw])
    OMP_NUM_THREADS=1 python benchmarks/data/interleave.py --workers 2 --dataset zip:set.zip

``run.py`` trains the two data paths in separate processes, one after the other; on a machine
shared with other jobs the load changes between (and within) runs by 30% and more, so the ratio
of two runs is mostly noise. Here one ``Trainer`` (``faces-dcgan`` with ``model.ngf=8
model.ndf=8 model.z_dim=64``, 128x128, ``data.flip=true``, batch 32, one thread, the same model
as ``run.py``) streams the whole synthetic folder (``data.stream=auto``, ``data.workers``), and
a callback swaps its loader at every log record (each ``--window`` steps) between that stream
and the first ``--subset`` images decoded into memory (``data.stream=false``), in the order
memory, stream, stream, memory, memory, stream, ... The trainer's own ``img_per_s`` of each
window is kept. After ``--warmup`` steps, each two adjacent windows (one of each) give a ratio
stream / memory; the script prints their median, the quartiles, and both paths' median img/s.

Both loaders live in the one process for the whole run, so memory use is not measured here
(``run.py`` does that). The stream's worker decodes ahead: the one or two batches it is still
decoding when a stream window ends are charged to the next memory window (under 1% of a
20-step window's time).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", default="/tmp/gankit-data-bench/images",
                    help="the synthetic folder run.py writes (100,000 128x128 JPEGs)")
    ap.add_argument("--dataset", default="",
                    help="data.dataset of both paths instead of folder:--dir, e.g. a "
                         "`gankit data pack` archive of it: zip:/tmp/set.zip (PNG or raw)")
    ap.add_argument("--images", type=int, default=100_000, help="written first if missing")
    ap.add_argument("--subset", type=int, default=10_000, help="images of the in-memory path")
    ap.add_argument("--steps", type=int, default=640)
    ap.add_argument("--window", type=int, default=20, help="steps per window (log_every)")
    ap.add_argument("--warmup", type=int, default=40, help="steps left out of the ratios")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--json", default="")
    args = ap.parse_args()

    import torch

    from run import make_images

    from gankit.config import load_config
    from gankit.data import load_dataset
    from gankit.train.callbacks import Callback
    from gankit.train.trainer import Trainer

    if not args.dataset:
        make_images(Path(args.dir), args.images)
    dataset = args.dataset or f"folder:{args.dir}"
    torch.set_num_threads(1)
    common = ["model.ngf=8", "model.ndf=8", "model.z_dim=64", "data.resolution=128",
              "data.channels=3", "data.center_crop=0", "data.flip=true", "data.labels=false",
              f"data.dataset={dataset}", f"train.batch_size={args.batch}",
              f"train.steps={args.steps}", f"train.log_every={args.window}",
              "train.sample_every=0", "train.checkpoint_every=0", "train.threads=1",
              "train.progress=false", "train.health=false", "train.report=false",
              "train.grid_size=16"]
    stream_cfg = load_config("faces-dcgan", common + ["data.stream=auto",
                                                      f"data.workers={args.workers}"])
    memory_cfg = load_config("faces-dcgan", common + [f"data.limit={args.subset}",
                                                      "data.stream=false"])
    rows: list[dict] = []

    class Swap(Callback):
        """At each log record: note which path that window used, then switch for the next."""

        def __init__(self, loaders: dict):
            self.loaders = loaders
            self.current = "memory"
            self.n = 0

        def on_start(self, trainer) -> None:
            trainer.loader = self.loaders[self.current]

        def on_log(self, trainer, record) -> None:
            rows.append({"window": self.n, "path": self.current, "step": record["step"],
                         "img_per_s": round(record["img_per_s"], 2),
                         "load": round(os.getloadavg()[0], 2)})
            self.n += 1
            # memory, stream, stream, memory, memory, stream, ...: a steady drift cancels
            self.current = ("memory", "stream")[(self.n + 1) // 2 % 2]
            trainer.loader = self.loaders[self.current]

    out = Path(tempfile.mkdtemp(prefix="gankit-interleave-"))
    swap = Swap({})
    trainer = Trainer(stream_cfg, out / "run", callbacks=[swap], default_callbacks=False)
    if "streamed" not in trainer.dataset.source:
        sys.exit(f"data.stream=auto did not stream {dataset}")
    memory = load_dataset(memory_cfg.data)
    t = stream_cfg.train
    swap.loaders = {"stream": trainer.loader,
                    "memory": memory.loader(t.batch_size, t.seed, 0, 1, trainer.device)}
    trainer.run()

    timed = [r for r in rows if r["step"] - args.window >= args.warmup]
    by_pair: dict[int, dict[str, float]] = {}  # windows 2j and 2j+1: one of each path
    for r in timed:
        by_pair.setdefault(r["window"] // 2, {})[r["path"]] = r["img_per_s"]
    ratios = sorted(p["stream"] / p["memory"] for p in by_pair.values() if len(p) == 2)
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    speeds = {p: statistics.median(r["img_per_s"] for r in timed if r["path"] == p)
              for p in ("memory", "stream")}
    summary = {"ratio_median": round(statistics.median(ratios), 3),
               "ratio_quartiles": [round(q[0], 3), round(q[2], 3)], "pairs": len(ratios),
               "median_img_per_s": speeds, "workers": args.workers, "window": args.window,
               "source": trainer.dataset.source,
               "load_avg": round(statistics.mean(r["load"] for r in timed), 2)}
    print(json.dumps(summary))
    shutil.rmtree(out, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "summary": summary,
                                               "windows": rows}, indent=1))


if __name__ == "__main__":
    main()
