"""The plain course DCGAN recipe, written here with no gankit code: the quality suite's yardstick.

What a course teaches (and what most tutorials copy): a DCGAN with BCE on logits, one-sided
label smoothing 0.9 on the real targets, the non-saturating G loss, Adam(lr 2e-4, betas 0.5,
0.999) for both nets, batch 64, no EMA generator, no augmentation, one D step per G step.

* 28 x 28 (MNIST, Fashion-MNIST): G  z(100) -> ConvT 7x7 -> 128 x 7 x 7, BN, ReLU
  -> ConvT 4/2 -> 64 x 14 x 14, BN, ReLU -> ConvT 4/2 -> 1 x 28 x 28, tanh;
  D  Conv 4/2 64, LeakyReLU 0.2 -> Conv 4/2 128, BN, LeakyReLU -> Conv 7x7 -> logit.
* 64 x 64 (CelebA faces, centre crop 89, resize 64): the PyTorch DCGAN tutorial's nets
  (ngf = ndf = 64: 512-256-128-64), same losses and optimizer, batch 64.

It trains for a budget of *process CPU seconds* (``time.process_time``, all threads), counted
from the first step (data loading is not charged to it, which favours the reference), on one
thread, and saves the generator when the budget is spent. ``sample`` draws images from fixed
seeds: image ``i`` comes from ``torch.Generator().manual_seed(i)``.

    python benchmarks/quality/reference.py train --data mnist --cpu-seconds 300 --out ref.pt
    python benchmarks/quality/reference.py sample ref.pt --num 10000 --npz ref.npz
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

Z_DIM = 100


def data_root() -> Path:
    root = os.environ.get("GANKIT_DATA")
    if not root:
        raise SystemExit("set GANKIT_DATA to the folder holding mnist/, fashion_mnist/, "
                         "celeba_subset/")
    return Path(root)


def load_images(name: str) -> torch.Tensor:
    """uint8 N x C x H x W training images of ``name`` (mnist, fashion-mnist, celeba)."""
    root = data_root()
    if name in ("mnist", "fashion-mnist"):
        folder = root / name.replace("-", "_")
        raw = gzip.open(folder / "train-images-idx3-ubyte.gz").read()
        x = np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 1, 28, 28)
        return torch.from_numpy(x.copy())
    if name == "celeba":
        from PIL import Image

        files = sorted((root / "celeba_subset" / "img").glob("*.jpg"))
        out = np.empty((len(files), 3, 64, 64), np.uint8)
        for i, f in enumerate(files):
            im = Image.open(f).convert("RGB")
            w, h = im.size
            left, top = (w - 89) // 2, (h - 89) // 2
            im = im.crop((left, top, left + 89, top + 89)).resize((64, 64), Image.BICUBIC)
            out[i] = np.asarray(im).transpose(2, 0, 1)
        return torch.from_numpy(out)
    raise SystemExit(f"unknown data set {name!r}: mnist, fashion-mnist or celeba")


def init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def make_nets(channels: int, size: int) -> tuple[nn.Module, nn.Module]:
    if size == 28:
        g = nn.Sequential(
            nn.ConvTranspose2d(Z_DIM, 128, 7, 1, 0, bias=False), nn.BatchNorm2d(128), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, channels, 4, 2, 1, bias=False), nn.Tanh())
        d = nn.Sequential(
            nn.Conv2d(channels, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
            nn.Conv2d(128, 1, 7, 1, 0, bias=False))
    elif size == 64:
        w = [512, 256, 128, 64]
        g_layers: list[nn.Module] = [nn.ConvTranspose2d(Z_DIM, w[0], 4, 1, 0, bias=False),
                                     nn.BatchNorm2d(w[0]), nn.ReLU()]
        for a, b in zip(w[:-1], w[1:]):
            g_layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b),
                         nn.ReLU()]
        g = nn.Sequential(*g_layers, nn.ConvTranspose2d(w[-1], channels, 4, 2, 1, bias=False),
                          nn.Tanh())
        d_layers: list[nn.Module] = [nn.Conv2d(channels, 64, 4, 2, 1, bias=False),
                                     nn.LeakyReLU(0.2)]
        for a, b in zip(w[::-1][:-1], w[::-1][1:]):
            d_layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b),
                         nn.LeakyReLU(0.2)]
        d = nn.Sequential(*d_layers, nn.Conv2d(w[0], 1, 4, 1, 0, bias=False))
    else:
        raise SystemExit(f"the reference recipe is for 28 or 64 pixel images, not {size}")
    g.apply(init)
    d.apply(init)
    return g, d


def train(name: str, cpu_seconds: float, out: Path, seed: int = 0, batch: int = 64,
          snapshots: tuple[float, ...] = ()) -> dict:
    """Train for ``cpu_seconds``; also save G at each CPU time in ``snapshots`` (as
    ``out`` with ``.cpuNNNN`` before the suffix) for a quality-over-time curve."""
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    data = load_images(name)
    channels, size = data.shape[1], data.shape[2]
    G, D = make_nets(channels, size)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    real_t = torch.full((batch,), 0.9)  # one-sided label smoothing
    fake_t = torch.zeros(batch)
    ones = torch.ones(batch)
    flip = name == "celeba"
    step = 0
    pending = sorted(s for s in snapshots if s < cpu_seconds)
    t0 = time.process_time()
    w0 = time.perf_counter()
    while time.process_time() - t0 < cpu_seconds:
        idx = torch.randint(0, len(data), (batch,), generator=gen)
        real = data[idx].float() / 127.5 - 1
        if flip:
            real = torch.where(torch.rand(batch, 1, 1, 1, generator=gen) < 0.5,
                               real.flip(3), real)
        z = torch.randn(batch, Z_DIM, 1, 1, generator=gen)
        fake = G(z)
        loss_d = (F.binary_cross_entropy_with_logits(D(real).flatten(), real_t)
                  + F.binary_cross_entropy_with_logits(D(fake.detach()).flatten(), fake_t))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.binary_cross_entropy_with_logits(D(fake).flatten(), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        step += 1
        if pending and time.process_time() - t0 >= pending[0]:
            snap = out.with_name(f"{out.stem}.cpu{int(pending.pop(0)):04d}{out.suffix}")
            _save(snap, G, channels, size, {"data": name, "steps": step,
                                            "cpu_seconds": round(time.process_time() - t0, 1)})
    info = {"data": name, "steps": step, "batch": batch, "seed": seed,
            "cpu_seconds": round(time.process_time() - t0, 1),
            "wall_seconds": round(time.perf_counter() - w0, 1), "threads": 1,
            "loss_d": loss_d.item(), "loss_g": loss_g.item()}
    _save(out, G, channels, size, info)
    return info


def _save(path: Path, G: nn.Module, channels: int, size: int, info: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"G": G.state_dict(), "channels": channels, "size": size, "info": info}, path)


@torch.no_grad()
def sample(ckpt: Path, num: int, chunk: int = 500) -> torch.Tensor:
    """uint8 N x C x H x W from seeds 0..num-1 (G in eval mode: BN running statistics)."""
    torch.set_num_threads(1)
    state = torch.load(ckpt, weights_only=True)
    G, _ = make_nets(state["channels"], state["size"])
    G.load_state_dict(state["G"])
    G.eval()
    out = []
    for lo in range(0, num, chunk):
        z = torch.stack([torch.randn(Z_DIM, generator=torch.Generator().manual_seed(i))
                         for i in range(lo, min(lo + chunk, num))])
        x = G(z.view(-1, Z_DIM, 1, 1))
        out.append(((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("--data", required=True, choices=("mnist", "fashion-mnist", "celeba"))
    t.add_argument("--cpu-seconds", type=float, required=True)
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--snapshots", default="", help="comma list of CPU seconds at which to "
                   "also save G (e.g. 30,60,120)")
    s = sub.add_parser("sample")
    s.add_argument("ckpt", type=Path)
    s.add_argument("--num", type=int, default=10000)
    s.add_argument("--npz", type=Path, required=True)
    args = ap.parse_args()
    if args.cmd == "train":
        snaps = tuple(float(v) for v in args.snapshots.split(",") if v)
        print(json.dumps(train(args.data, args.cpu_seconds, args.out, args.seed, snapshots=snaps)))
    else:
        x = sample(args.ckpt, args.num)
        np.savez_compressed(args.npz, images=x.permute(0, 2, 3, 1).numpy())


if __name__ == "__main__":
    main()
