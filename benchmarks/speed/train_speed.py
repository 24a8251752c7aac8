"""Training speed of gankit vs a plain reference loop, measured side by side in one process.

The reference is written here the way the PyTorch examples write DCGAN (and the classic MLP
GAN): fp32, torch's default thread count, a DataLoader over float tensors, Sigmoid + BCELoss,
Adam(2e-4, betas (0.5, 0.999)), one G forward reused for the D and G updates. gankit runs its
own Trainer step (data from its in-memory uint8 store, its chosen precision, memory format,
thread count and optimizer implementation). Both train the same architecture widths on the same
images. Segments alternate A/B, several repetitions, and the median images/s of each is
reported with the ratio.

    python benchmarks/speed/train_speed.py --model dcgan --reps 5 --steps 30
    python benchmarks/speed/train_speed.py --model gan --reps 5 --steps 60

Data: CIFAR-10 subset (dcgan, 32x32 RGB) or MNIST (gan, 28x28) from $GANKIT_DATA when present,
otherwise random images of the same shape (stated in the output).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from gankit.config import config_from_dict  # noqa: E402
from gankit.train.trainer import Trainer  # noqa: E402

DEFAULT_THREADS = torch.get_num_threads()


# ----------------------------------------------------------------------------- reference nets
class RefG32(nn.Module):  # pytorch/examples dcgan, resized to 32x32 output
    def __init__(self, nz=100, ngf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 4), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z):
        return self.main(z)


class RefD32(nn.Module):
    def __init__(self, ndf=64, nc=3):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False), nn.Sigmoid())

    def forward(self, x):
        return self.main(x).view(-1)


def ref_mlp(sizes, last):
    layers = []
    for a, b in zip(sizes[:-2], sizes[1:-1]):
        layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
    layers += [nn.Linear(sizes[-2], sizes[-1]), last]
    return nn.Sequential(*layers)


class Reference:
    """The examples' loop: one iteration = D step on real + detached fake, then G step."""

    def __init__(self, kind, images, batch):
        torch.manual_seed(0)
        if kind == "dcgan":
            self.nz = 100
            self.G, self.D = RefG32(), RefD32()
            self.zshape = (self.nz, 1, 1)
        else:
            self.nz = 64
            self.G = nn.Sequential(ref_mlp([64, 256, 512, 1024, 784], nn.Tanh()), nn.Unflatten(1, (1, 28, 28)))
            self.D = nn.Sequential(nn.Flatten(), ref_mlp([784, 1024, 512, 256, 1], nn.Sigmoid()), nn.Flatten(0))
            self.zshape = (self.nz,)
        self.crit = nn.BCELoss()
        self.optG = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.optD = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        ds = torch.utils.data.TensorDataset(images.float() / 127.5 - 1)
        self.data = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, drop_last=True)
        self.it = iter(self.data)
        self.batch = batch

    def next_batch(self):
        try:
            return next(self.it)[0]
        except StopIteration:
            self.it = iter(self.data)
            return next(self.it)[0]

    def step(self):
        real = self.next_batch()
        b = real.size(0)
        self.D.zero_grad()
        out = self.D(real)
        errD_real = self.crit(out, torch.full((b,), 1.0))
        errD_real.backward()
        fake = self.G(torch.randn(b, *self.zshape))
        out = self.D(fake.detach())
        errD_fake = self.crit(out, torch.full((b,), 0.0))
        errD_fake.backward()
        self.optD.step()
        self.G.zero_grad()
        out = self.D(fake)
        errG = self.crit(out, torch.full((b,), 1.0))
        errG.backward()
        self.optG.step()


def load_images(kind):
    root = os.environ.get("GANKIT_DATA", "")
    if kind == "dcgan":
        p = Path(root) / "cifar10_subset" / "cifar10_subset.npz"
        if p.is_file():
            return torch.from_numpy(np.load(p)["x_train"]).permute(0, 3, 1, 2).contiguous(), "cifar10 subset"
        return torch.randint(0, 256, (4000, 3, 32, 32), dtype=torch.uint8), "random"
    import gzip
    p = Path(root) / "mnist" / "train-images-idx3-ubyte.gz"
    if p.is_file():
        arr = np.frombuffer(gzip.open(p).read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:10000]
        return torch.from_numpy(arr.copy()), "mnist (10k)"
    return torch.randint(0, 256, (10000, 1, 28, 28), dtype=torch.uint8), "random"


def gankit_trainer(kind, images, batch, tmp, overrides, model_overrides=None):
    # the same images, handed to gankit as a registered in-memory dataset
    from gankit.data.base import ImageDataset
    from gankit.registry import DATASETS

    if "bench-memory" not in DATASETS:
        DATASETS.add("bench-memory", lambda arg, cfg: ImageDataset(images, source="benchmark"))
    model = ({"name": "dcgan", "ngf": 64, "ndf": 64, "z_dim": 100} if kind == "dcgan" else
             {"name": "gan", "z_dim": 64, "d_dropout": 0.0})
    model = {**model, **(model_overrides or {})}
    cfg = config_from_dict({"model": model, "data": {"dataset": "bench-memory"},
                            "train": {"batch_size": batch, "progress": False, **overrides}})
    return Trainer(cfg, Path(tmp) / "run")


def timed(fn, steps, batch, threads):
    torch.set_num_threads(threads)
    fn()  # warm-up step (allocator, kernels)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return steps * batch / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["dcgan", "gan"], default="dcgan")
    ap.add_argument("--steps", type=int, default=30, help="steps per timed segment")
    ap.add_argument("--reps", type=int, default=5, help="A/B repetitions")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--set", action="append", default=[], metavar="train.KEY=VALUE",
                    help="gankit overrides of train.* or model.* keys (e.g. train.amp=off, "
                         "model.reuse_fakes=false) for a lever study")
    ap.add_argument("--ref-threads", type=int, default=DEFAULT_THREADS,
                    help="threads for the reference (default: torch's default, as the examples run)")
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args(argv)
    images, source = load_images(args.model)
    import yaml

    overrides, model_overrides = {}, {}
    for item in args.set:
        k, _, v = item.partition("=")
        if k.startswith("model."):
            model_overrides[k.removeprefix("model.")] = yaml.safe_load(v)
        else:
            overrides[k.removeprefix("train.")] = yaml.safe_load(v)
    with tempfile.TemporaryDirectory() as tmp:
        ref = Reference(args.model, images, args.batch)
        tr = gankit_trainer(args.model, images, args.batch, tmp, overrides, model_overrides)
        window = {}
        ours_step = lambda: tr._train_step(window, False)  # noqa: E731
        ref_ips, our_ips = [], []
        for _ in range(args.reps):
            ref_ips.append(timed(ref.step, args.steps, args.batch, args.ref_threads))
            our_ips.append(timed(ours_step, args.steps, args.batch, tr.threads))
        amp = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[tr.amp_dtype]
        result = {
            "model": args.model, "data": source, "batch": args.batch, "steps_per_segment": args.steps,
            "reps": args.reps,
            "reference": {"img_per_s_median": statistics.median(ref_ips), "all": ref_ips,
                          "threads": args.ref_threads, "precision": "fp32"},
            "gankit": {"img_per_s_median": statistics.median(our_ips), "all": our_ips,
                       "threads": tr.threads, "precision": amp, "channels_last": tr.channels_last,
                       "overrides": overrides, "model_overrides": model_overrides},
            "ratio": statistics.median(our_ips) / statistics.median(ref_ips),
            "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                        "torch": torch.__version__, "loadavg_1m": os.getloadavg()[0]},
        }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
