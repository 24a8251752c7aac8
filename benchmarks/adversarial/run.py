"""Adversarial-examples benchmark: AdvGAN vs FGSM vs PGD-40 at eps 0.3 on MNIST (issue 16).

Usage (from the repository root, one heavy job at a time, one thread)::

    export GANKIT_DATA=/path/to/shared/data OMP_NUM_THREADS=1
    python benchmarks/adversarial/run.py all --work /tmp/adv-bench

Steps (each also runs alone: ``foreign``, ``train``, ``attack``, ``speed``, ``targeted``):

1. ``foreign``: build and train, in plain PyTorch and outside gankit, a classifier gankit never
   saw: input standardisation (MNIST mean/std) -> conv5 32 -> GELU -> avg-pool -> conv5 64 ->
   GELU -> avg-pool -> linear 128 -> GELU -> linear 10, seed 123, 1 epoch of Adam; saved
   with ``torch.jit.script`` as ``foreign-mnist.pt`` (float [0, 1] N x 1 x 28 x 28 -> logits).
2. ``train``: ``gankit train mnist-advgan`` against gankit's MNIST net, and the same preset with
   ``model.target=foreign-mnist.pt``; the CPU seconds of each come from its stats.jsonl.
3. ``attack``: for each run, ``gankit attack RUN mnist:test`` twice: all three methods (advgan,
   fgsm, pgd-40) on the first 1,000 test images (the same images for every row, so the speed
   ratio compares like with like), and advgan alone on all 10,000.
4. ``speed``: per-image time of AdvGAN and PGD-40 on the same 500 images, batches of 250,
   in 3 interleaved rounds (one PGD-40 pass, seven AdvGAN passes), best and median of each
   (the reports' images/s are single runs on a shared machine).
5. ``targeted``: ``mnist-advgan`` with ``model.target_class=3`` (1500 steps), then one
   ``gankit attack`` (its rows are all targeted to class 3: the run's class is the default).

Everything lands in ``--work``; ``results.json`` there collects the reports, which
``RESULTS.md`` quotes.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class Foreign(nn.Module):
    """A classifier built without gankit: standardises its own input, GELU, average pooling."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(0.1307))
        self.register_buffer("std", torch.tensor(0.3081))
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.GELU(), nn.AvgPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.GELU(), nn.AvgPool2d(2), nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128), nn.GELU())
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((x - self.mean) / self.std))


def idx(path: Path, offset: int) -> np.ndarray:
    return np.frombuffer(gzip.open(path).read(), np.uint8, offset=offset)


def foreign(work: Path) -> dict:
    data = Path(os.environ["GANKIT_DATA"]) / "mnist"
    x = torch.from_numpy(idx(data / "train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
                         .copy()).float() / 255
    y = torch.from_numpy(idx(data / "train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    xt = torch.from_numpy(idx(data / "t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
                          .copy()).float() / 255
    yt = torch.from_numpy(idx(data / "t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    torch.manual_seed(123)
    torch.set_num_threads(1)
    net = Foreign()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    t0 = time.process_time()
    perm = torch.randperm(len(x))
    for i in range(0, len(x) - 127, 128):
        b = perm[i:i + 128]
        loss = nn.functional.cross_entropy(net(x[b]), y[b])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        acc = float((torch.cat([net(xt[i:i + 1000]).argmax(1) for i in range(0, 10000, 1000)])
                     == yt).float().mean())
    path = work / "foreign-mnist.pt"
    torch.jit.script(net).save(str(path))
    info = {"path": str(path), "test_accuracy": acc, "cpu_s": round(time.process_time() - t0, 1)}
    print("foreign classifier:", info)
    return info


def gankit(*args: str) -> None:
    cmd = [sys.executable, "-m", "gankit", *args]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, check=True, env=ENV)


def cpu_seconds(run: Path) -> float:
    lines = (run / "stats.jsonl").read_text().splitlines()
    return float(json.loads(lines[-1])["cpu_s"])


RUNS = {"mnist": [], "foreign": ["model.target={work}/foreign-mnist.pt"]}


def train(work: Path) -> dict:
    out = {}
    for name, extra in RUNS.items():
        run = work / f"advgan-{name}"
        if not (run / "export" / "generator.safetensors").is_file():  # finished runs stay
            gankit("train", "mnist-advgan", "--out", str(run), "train.threads=1",
                   "train.progress=false", *[e.format(work=work) for e in extra])
        out[name] = {"run": str(run), "train_cpu_s": cpu_seconds(run)}
    return out


def attack(work: Path) -> dict:
    out = {}
    for name in RUNS:
        run = work / f"advgan-{name}"
        three, full = work / f"attack-{name}-1000", work / f"attack-{name}-full"
        gankit("attack", str(run), "mnist:test", "--limit", "1000", "--threads", "1",
               "--out", str(three))
        gankit("attack", str(run), "mnist:test", "--method", "advgan", "--save", "100",
               "--threads", "1", "--out", str(full))
        out[name] = {"three_methods_1000": json.loads((three / "report.json").read_text()),
                     "advgan_10000": json.loads((full / "report.json").read_text())}
        rows = out[name]["three_methods_1000"]["methods"]
        out[name]["advgan_vs_pgd40_speed"] = round(rows["advgan"]["images_per_s"]
                                                   / rows["pgd"]["images_per_s"], 1)
    return out


def speed(work: Path, n: int = 500, rounds: int = 3, advgan_repeats: int = 7) -> dict:
    """Per-image time of AdvGAN (one G forward) vs PGD-40 on the same ``n`` test images, one
    thread, batches of 250. The machine is shared, so the two are measured in ``rounds``
    interleaved rounds (one PGD-40 pass, then ``advgan_repeats`` AdvGAN passes: both see the
    same load) and the best and the median pass of each are reported, with the load average
    (1 minute) before and after."""
    from gankit.attacks.runner import load_inputs, load_source, make_methods

    torch.set_num_threads(1)
    out = {}
    for name in RUNS:
        src = load_source(str(work / f"advgan-{name}"))
        x = load_inputs("mnist:test", 1, 28, n).x
        y = src.target(x).argmax(1)
        fns = make_methods(src.target, ["advgan", "pgd"], advgan=src.advgan, target_class=None,
                           pgd_steps=40, restarts=1, seed=0)

        def one_pass(method: str) -> float:
            fn = fns[method][0]
            t0 = time.perf_counter()
            for i in range(0, n, 250):
                fn(x[i:i + 250], y[i:i + 250], 0.3)
            return 1000 * (time.perf_counter() - t0) / n

        load0 = os.getloadavg()[0]
        times: dict[str, list[float]] = {"advgan": [], "pgd": []}
        for _ in range(rounds):
            times["pgd"].append(one_pass("pgd"))
            times["advgan"] += [one_pass("advgan") for _ in range(advgan_repeats)]
        row = {}
        for method, ts in times.items():
            row[f"{method}_ms_per_image"] = round(min(ts), 4)
            row[f"{method}_ms_per_image_median"] = round(float(np.median(ts)), 4)
        row["ratio"] = round(row["pgd_ms_per_image"] / row["advgan_ms_per_image"], 1)
        row["ratio_median"] = round(row["pgd_ms_per_image_median"]
                                    / row["advgan_ms_per_image_median"], 1)
        row["loadavg_1min"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
        print(name, row, flush=True)
        out[name] = row
    return out


def targeted(work: Path) -> dict:
    """AdvGAN targeted to class 3 (1500 steps) and targeted FGSM / PGD-40 from one command."""
    run, out = work / "advgan-targeted3", work / "attack-targeted3-1000"
    if not (run / "export" / "generator.safetensors").is_file():
        gankit("train", "mnist-advgan", "--out", str(run), "train.threads=1",
               "train.progress=false", "model.target_class=3", "train.steps=1500")
    gankit("attack", str(run), "mnist:test", "--limit", "1000", "--threads", "1",
           "--out", str(out))
    return {"run": str(run), "train_cpu_s": cpu_seconds(run),
            "three_methods_1000": json.loads((out / "report.json").read_text())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("step", choices=("all", "foreign", "train", "attack", "speed", "targeted"))
    p.add_argument("--work", default="/tmp/adv-bench", help="folder for runs and reports")
    a = p.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    res_path = work / "results.json"
    results = json.loads(res_path.read_text()) if res_path.is_file() else {}
    if a.step in ("all", "foreign"):
        results["foreign"] = foreign(work)
    if a.step in ("all", "train"):
        results["train"] = train(work)
    if a.step in ("all", "attack"):
        results["attack"] = attack(work)
    if a.step in ("all", "speed"):
        results["speed"] = speed(work)
    if a.step in ("all", "targeted"):
        results["targeted"] = targeted(work)
    res_path.write_text(json.dumps(results, indent=2) + "\n")
    print("wrote", res_path)


if __name__ == "__main__":
    main()
