"""Streaming vs in-memory data: memory and images/s of one small model (issue 19).

    GANKIT_DATA=../shared/data python benchmarks/data/run.py            # 100,000 images
    python benchmarks/data/run.py --images 2000 --subset 1000 --steps 30 --stream true  # quick
    python benchmarks/data/run.py --dataset zip:set.zip  # a `gankit data pack` archive of it

1. Writes a synthetic folder of ``--images`` 128x128 JPEGs (a colour gradient with random
   ellipses, rectangles and lines, so they compress and decode like photos rather than noise)
   under ``--dir`` (default /tmp/gankit-data-bench; reused when it is complete). About 4.9 GB
   once decoded for 100,000 images: ``data.stream=auto`` streams it.
2. Trains the same small model twice through ``gankit train`` (one training thread, same seed,
   same steps, ``data.flip=true``):

   - **memory**: ``data.limit=--subset`` images of the folder, decoded into memory first
     (``data.stream=false``; the decode is not part of the measured steps);
   - **stream**: the whole folder, ``data.stream=auto`` (which must choose streaming) with
     ``data.workers=--workers`` DataLoader processes decoding JPEGs per batch.

   While each run trains, the script samples the resident memory (RSS) of the training
   process, and of it plus its worker processes, every 0.2 s, and keeps the peaks.
3. Reports img/s from ``stats.jsonl`` after warm-up (the mean of the windows after the first
   ``--warmup`` steps), the median over ``--repeat`` interleaved pairs (memory, stream, then
   stream, memory, ...: a steady change of the machine's load cancels) of the ratio
   stream / memory, the peak RSS, the CPU milliseconds per step of the training process
   and the CPU seconds of the decoding workers, and the machine's load average during each run
   (the CPU is shared: compare the runs of one invocation, not across days; for the speed
   ratio without the run-to-run load changes, use ``interleave.py``, which swaps the two
   paths every few steps inside one training process).
   ``--json`` writes the numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_images(folder: Path, n: int, size: int = 128, seed: int = 0) -> None:
    import numpy as np
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    have = sum(1 for p in folder.iterdir() if p.suffix == ".jpg")
    if have >= n:
        return
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    t0 = time.time()
    for i in range(n):
        path = folder / f"{i:06d}.jpg"
        a, b = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        d = rng.uniform(-1, 1, 2)
        ramp = (xx * d[0] + yy * d[1] + 1) / 2
        arr = (a + (b - a) * ramp[..., None]).clip(0, 255).astype(np.uint8)
        img = Image.fromarray(arr)
        draw = ImageDraw.Draw(img)
        for _ in range(rng.integers(3, 8)):
            x0, y0 = rng.integers(0, size, 2)
            w, h = rng.integers(8, size // 2, 2)
            colour = tuple(int(c) for c in rng.integers(0, 256, 3))
            shape = rng.integers(0, 3)
            box = (int(x0), int(y0), int(x0 + w), int(y0 + h))
            if shape == 0:
                draw.ellipse(box, fill=colour)
            elif shape == 1:
                draw.rectangle(box, fill=colour)
            else:
                draw.line(box, fill=colour, width=int(rng.integers(2, 6)))
        if path.exists():
            continue
        img.save(path, quality=90)
        if (i + 1) % 10000 == 0:
            print(f"  {i + 1}/{n} images written ({time.time() - t0:.0f} s)", flush=True)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_rss(pid: int) -> tuple[int, int]:
    """(RSS of pid, RSS of pid + its descendants) in bytes (shared pages counted per process)."""
    def rss(p: int) -> int:
        try:
            with open(f"/proc/{p}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            return 0

    return rss(pid), rss(pid) + sum(rss(p) for p in descendants(pid))


def train(name: str, out: Path, args, overrides: list[str]) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1",
               XDG_CACHE_HOME=str(out.parent / "cache"))  # the decoded-image cache goes too
    cmd = [sys.executable, "-m", "gankit", "train", "faces-dcgan", "--out", str(out),
           "model.ngf=8", "model.ndf=8", "model.z_dim=64", "data.resolution=128",
           "data.channels=3", "data.center_crop=0", "data.flip=true", "data.labels=false",
           f"data.dataset={args.dataset or 'folder:' + args.dir}",
           f"train.batch_size={args.batch}",
           f"train.steps={args.steps}", f"train.log_every={args.log_every}",
           "train.sample_every=0", "train.checkpoint_every=0", "train.threads=1",
           "train.progress=false", "train.health=false", "train.report=false",
           "train.grid_size=16", *overrides]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    peak_main = peak_tree = 0
    loads = []
    worker_cpu: dict[int, float] = {}  # the last reading of each worker process
    t0 = time.time()
    while proc.poll() is None:
        main, tree = tree_rss(proc.pid)
        peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
        for p in descendants(proc.pid):
            worker_cpu[p] = max(worker_cpu.get(p, 0.0), cpu_seconds(p))
        loads.append(os.getloadavg()[0])
        time.sleep(0.2)
    err = proc.stderr.read()
    if proc.returncode != 0:
        sys.exit(f"{name} run failed:\n{err}")
    records = [json.loads(line) for line in (out / "stats.jsonl").read_text().splitlines()]
    timed = [r for r in records if "img_per_s" in r and r["step"] > args.warmup]
    speeds = [r["img_per_s"] for r in timed]
    # CPU seconds of the training process per step, over the timed windows
    cpu_step = (timed[-1]["cpu_s"] - next(r["cpu_s"] for r in records
                                         if r.get("step") == args.warmup)) / (
        timed[-1]["step"] - args.warmup)
    start = [line for line in err.splitlines() if " from " in line and "example(s)" in line]
    return {"run": name, "img_per_s": round(sum(speeds) / len(speeds), 2),
            "window_img_per_s": [round(v, 1) for v in speeds],
            "train_cpu_ms_per_step": round(cpu_step * 1000, 1),
            "worker_cpu_s": round(sum(worker_cpu.values()), 1),
            "peak_rss_gb": round(peak_main / 1e9, 3),
            "peak_rss_with_workers_gb": round(peak_tree / 1e9, 3),
            "load_avg": round(sum(loads) / max(len(loads), 1), 2),
            "wall_s": round(time.time() - t0, 1), "start_line": start[0] if start else ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--subset", type=int, default=10_000,
                    help="images of the in-memory run (data.limit)")
    ap.add_argument("--dir", default="/tmp/gankit-data-bench/images")
    ap.add_argument("--dataset", default="",
                    help="data.dataset of both runs instead of folder:--dir, e.g. a `gankit "
                         "data pack` archive of it: zip:/tmp/set.zip (PNG or raw)")
    ap.add_argument("--runs", default="")
    ap.add_argument("--steps", type=int, default=80)
    ap.add_argument("--warmup", type=int, default=20, help="steps left out of img/s")
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="memory/stream pairs, interleaved")
    ap.add_argument("--stream", default="auto", choices=("auto", "true"),
                    help="data.stream of the streamed run (auto must stream 100,000 images)")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    folder = Path(args.dir)
    if not args.dataset:
        print(f"images: {args.images} in {folder}", flush=True)
        make_images(folder, args.images)
    runs = Path(args.runs or tempfile.mkdtemp(prefix="gankit-data-runs-"))
    rows = []
    settings = {"memory": [f"data.limit={args.subset}", "data.stream=false"],
                "stream": [f"data.stream={args.stream}", f"data.workers={args.workers}"]}
    for i in range(args.repeat):  # interleaved, so that a change of load hits both, and in
        # the order memory, stream | stream, memory | ... so that a steady drift cancels
        for name in ("memory", "stream") if i % 2 == 0 else ("stream", "memory"):
            rows.append({"pair": i, **train(name, runs / f"{name}{i}", args, settings[name])})
            print(json.dumps(rows[-1]), flush=True)
            if name == "stream" and "streamed" not in rows[-1]["start_line"]:
                sys.exit(f"data.stream={args.stream} did not stream the data set")
    mem = [r["img_per_s"] for r in sorted(rows, key=lambda r: r["pair"]) if r["run"] == "memory"]
    stm = [r["img_per_s"] for r in sorted(rows, key=lambda r: r["pair"]) if r["run"] == "stream"]
    pairs = [round(s / m, 3) for s, m in zip(stm, mem)]
    ratio = statistics.median(pairs)
    print(f"stream / memory img/s: median {ratio:.3f} (per pair {pairs}); stream peak RSS "
          f"{max(r['peak_rss_gb'] for r in rows if r['run'] == 'stream')} GB (with workers "
          f"{max(r['peak_rss_with_workers_gb'] for r in rows if r['run'] == 'stream')} GB)")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows,
                                               "ratio": round(ratio, 3), "pairs": pairs,
                                               "cpus": os.cpu_count()}, indent=1))
    shutil.rmtree(runs, ignore_errors=True)


if __name__ == "__main__":
    main()
