"""Does bf16 autocast keep sample quality? Same preset, same seed, equal steps, fp32 vs bf16.

    GANKIT_DATA=../shared/data python benchmarks/speed/bf16_quality.py --preset mnist-gan --steps 1500

Trains the preset twice through `gankit train` (train.amp=off, then train.amp=bf16; every
other setting and the seed identical, one thread), then scores 10,000 fixed-seed samples of
each EMA generator with gankit's MNIST feature net: classifier FID and KID against mnist:test
(`gankit evaluate ... --feature-net mnist`). On a CPU without native bf16 the bf16 run is
emulated and slow; the point here is the quality, not the speed (see train_speed.py).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def gankit(*args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    subprocess.run([sys.executable, "-m", "gankit", *args], check=True, env=env)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="mnist-gan")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--num", type=int, default=10000)
    ap.add_argument("--runs", default="/tmp/gankit-bf16-quality")
    ap.add_argument("--json")
    args = ap.parse_args()
    rows = []
    for amp in ("off", "bf16"):
        out = Path(args.runs) / f"{args.preset}-{amp}"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        shutil.rmtree(out, ignore_errors=True)
        gankit("train", args.preset, "--out", str(out), f"train.steps={args.steps}",
               f"train.amp={amp}", "train.threads=1", "train.sample_every=0",
               "train.progress=false")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        wall = time.time() - t0
        res = out / "eval.json"
        gankit("evaluate", str(out), "--ref", "mnist:test", "--feature-net", "mnist",
               "--metrics", "fid,kid", "--num", str(args.num), "--no-progress",
               "--json", str(res))
        got = json.loads(res.read_text())
        rows.append({"amp": amp, "steps": args.steps, "train_cpu_s": round(cpu, 1),
                     "train_wall_s": round(wall, 1), "eval": got})
        print(json.dumps(rows[-1]), flush=True)
    result = {"preset": args.preset, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
