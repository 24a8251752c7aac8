"""Peak resident memory (RSS) of gankit jobs, each measured in a fresh process.

    python benchmarks/speed/memory.py --job train --steps 20         # DCGAN 64x64, CelebA subset
    python benchmarks/speed/memory.py --job fid-mnist --num 10000    # FID+KID, 10k vs 10k, MNIST net
    python benchmarks/speed/memory.py --job fid-inception --num 10000 # FID, Inception, 10k vs 10k MNIST

Each measurement runs in its own subprocess and reads that process's ru_maxrss, so the
number covers everything: torch itself, the data, networks, optimizer state, activations and
the stored features. The bound we state for a 4 GB laptop is 2 GiB per job.

The Inception job uses a randomly initialised FID Inception-v3 weights file (the standard
weights are not available offline here); weights do not change the memory a forward pass
needs. Features stream batch by batch, so its RSS grows with N only by the stored pool
features (2 x N x 2048 float64 = 32 MiB per 1,000 images a side); run two N to see the slope.
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


def child_train(steps: int, out: str) -> str:
    from gankit.config import load_config
    from gankit.train.trainer import train

    data = "celeba" if os.environ.get("GANKIT_DATA") else "synthetic:5000"
    cfg = load_config({"model": {"name": "dcgan"}, "data": {"dataset": data, "resolution": 64,
                                                            "channels": 3, "flip": True}},
                      [f"train.steps={steps}", "train.batch_size=64", "train.progress=false",
                       "train.sample_every=0", "train.checkpoint_every=0"])
    train(cfg, out)
    return f"dcgan 64x64 training, batch 64, {steps} steps, {data}"


def child_fid(net: str, num: int, out: str, threads: int = 1) -> str:
    import torch

    from gankit.cli import main as cli

    Path(out).mkdir(parents=True, exist_ok=True)
    args = ["evaluate", "--metrics", "fid,kid" if net == "mnist" else "fid",
            "--num", str(num), "--num-ref", str(num), "--feature-net", net, "--no-cache",
            "--no-progress", "--threads", str(threads)]
    if net == "mnist":
        args = [args[0], "mnist:test", "--ref", "mnist:train", *args[1:]]
        what = "FID+KID, MNIST feature net"
    else:
        from gankit.metrics.inception import FIDInceptionV3

        weights = Path(out) / "random-fid-inception.pth"
        torch.manual_seed(0)
        torch.save(FIDInceptionV3().state_dict(), weights)
        # MNIST has 10k test and 60k train images (the CIFAR-10 subset here only 1k + 4k);
        # the greyscale digits go through the same RGB 299x299 path as any image
        args = [args[0], "mnist:test", "--ref", "mnist:train", *args[1:],
                "--weights", str(weights)]
        what = "FID, FID Inception-v3 (random weights), 299x299, batch 50"
    result = Path(out) / "eval.json"
    rc = cli([*args, "--json", str(result)])
    if rc:
        raise SystemExit(rc)
    # the counts actually used (evaluate takes fewer when a source has fewer images)
    proto = json.loads(result.read_text())["protocol"]
    return (f"{what}, {proto['num_source']} {proto['source']} vs {proto['num_reference']} "
            f"{proto['reference']}, {threads} thread(s)")


def measure(args: list[str]) -> tuple[float, str]:
    """Run this script as a child with ``args``; return its peak RSS in MiB and its job text."""
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-3000:])
    what = proc.stdout.strip().splitlines()[-1]
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, what


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", choices=["train", "fid-mnist", "fid-inception"], default="train")
    ap.add_argument("--steps", type=int, default=20, help="train: steps")
    ap.add_argument("--num", type=int, default=10000, help="fid: images on each side")
    ap.add_argument("--threads", type=int, default=1, help="fid: torch threads")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", default="/tmp/gankit-mem-run")
    ap.add_argument("--json")
    args = ap.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT / "src"))
        import shutil
        shutil.rmtree(args.out, ignore_errors=True)
        if args.job == "train":
            what = child_train(args.steps, args.out)
        else:
            what = child_fid(args.job.split("-")[1], args.num, args.out, args.threads)
        print(what)
        return
    peak, what = measure(["--job", args.job, "--steps", str(args.steps), "--num",
                          str(args.num), "--out", args.out, "--threads", str(args.threads)])
    result = {"job": what, "peak_rss_mib": round(peak, 1), "bound_mib": BOUND_MIB,
              "within_bound": peak <= BOUND_MIB}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
