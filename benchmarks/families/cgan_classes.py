"""Are a conditional MNIST generator's samples for class k classified as k?

Trains its own small CNN digit classifier on MNIST train (independent of the GAN and of
gankit's metrics), reports its test accuracy, then generates ``--per-class`` samples for every
class with ``gankit sample``'s loader (seeds 0..N-1, ``--class k``) and reports the fraction
classified as the class asked for.

    python benchmarks/families/cgan_classes.py RUN_DIR [--per-class 100]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "src"))
from mnist_io import load  # noqa: E402


def classifier() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(64 * 49, 128), nn.ReLU(), nn.Linear(128, 10))


def train_classifier(epochs: int = 1, seed: int = 0) -> tuple[nn.Module, float]:
    torch.manual_seed(seed)
    x, y = load("train")
    net = classifier()
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    for _ in range(epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            idx = perm[i:i + 128]
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    tx, ty = load("test")
    with torch.no_grad():
        acc = sum((net(tx[i:i + 1000]).argmax(1) == ty[i:i + 1000]).sum().item()
                  for i in range(0, len(tx), 1000)) / len(tx)
    return net, acc


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--per-class", type=int, default=100)
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    from gankit.sampling import load_generator

    t0 = time.process_time()
    net, acc = train_classifier()
    print(f"independent classifier: MNIST test accuracy {acc:.4f} "
          f"({time.process_time() - t0:.0f}s CPU)")
    gen = load_generator(a.run, "cpu")
    seeds = list(range(a.per_class))
    hits = []
    with torch.no_grad():
        for k in range(gen.info.num_classes):
            x = gen.generate(seeds, class_id=k)
            pred = net(x).argmax(1)
            hits.append((pred == k).float().mean().item())
    print("per class: " + ", ".join(f"{k}: {h:.2f}" for k, h in enumerate(hits)))
    print(f"samples classified as their class: {sum(hits) / len(hits):.4f} "
          f"({a.per_class} per class, {len(hits)} classes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
