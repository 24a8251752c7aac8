"""Peak resident memory (RSS) of a 64x64 DCGAN training run, measured in a fresh process.

    python benchmarks/speed/memory.py --steps 20            # DCGAN 64x64 on the CelebA subset

Each measurement runs in its own subprocess and reads that process's ru_maxrss, so the
number covers everything: torch itself, the dataset in memory, networks, optimizer state,
activations. The bound we state for a 4 GB laptop is 2 GiB per job.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOUND_MIB = 2048


def child_train(steps: int, out: str) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from gankit.config import load_config
    from gankit.train.trainer import train

    data = "celeba" if os.environ.get("GANKIT_DATA") else "synthetic:5000"
    cfg = load_config({"model": {"name": "dcgan"}, "data": {"dataset": data, "resolution": 64,
                                                            "channels": 3, "flip": True}},
                      [f"train.steps={steps}", "train.batch_size=64", "train.progress=false",
                       "train.sample_every=0", "train.checkpoint_every=0"])
    train(cfg, out)




def peak_of(args: list[str]) -> float:
    """Run this script as a child with ``args``; return the child's peak RSS in MiB."""
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="/tmp/gankit-mem-run")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.child:
        import shutil
        shutil.rmtree(args.out, ignore_errors=True)
        child_train(args.steps, args.out)
        return
    peak = peak_of(["--steps", str(args.steps), "--out", args.out])
    result = {"job": "dcgan 64x64 training, batch 64", "steps": args.steps,
              "peak_rss_mib": round(peak, 1), "bound_mib": BOUND_MIB,
              "within_bound": peak <= BOUND_MIB,
              "data": "celeba subset (5,000 faces)" if os.environ.get("GANKIT_DATA") else
              "synthetic 5,000 images"}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
