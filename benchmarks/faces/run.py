"""Faces benchmark: DCGAN vs ProGAN vs StyleGAN presets at the same CPU time, scored by KID.

Usage (from the repository root, one heavy job at a time)::

    export GANKIT_DATA=/path/to/shared/data      # holds celeba_subset/img/*.jpg
    PYTHONPATH=src nice -n 10 python benchmarks/faces/run.py train faces-dcgan --cpu 180
    PYTHONPATH=src nice -n 10 python benchmarks/faces/run.py train faces-progan --cpu 180
    PYTHONPATH=src nice -n 10 python benchmarks/faces/run.py train faces-stylegan --cpu 180
    PYTHONPATH=src nice -n 10 python benchmarks/faces/run.py eval

``faces-stylegan32-long`` (the style-mixing run, not part of ``run_all.sh``) is trained the
same way; ``--stop-file F`` ends a run cleanly (checkpoint + export) once F exists and
``--resume`` continues a run folder, with ``--cpu`` counted over all its segments.

``train`` runs a preset through the normal trainer with ``train.steps`` raised out of the way
and stops it (checkpoint + export, as at a normal end) at the first log line after ``--cpu``
seconds of process CPU time spent in training (data loading excluded), on one thread. ``eval``
scores every run's exported (EMA) generator against real faces.

Feature space (a SUBSTITUTE, not Inception): the standard FID Inception weights are not
available offline here, so features come from a fixed randomly initialised conv net (seed 0)
whose batch-norm statistics are set on the 5,000 real faces; features are global average
pools of its last three blocks (896-d). KID is the unbiased MMD^2 with the cubic polynomial
kernel ``k(x, y) = (x.y / d + 1)^3`` averaged over 50 subsets of 1,000 (Binkowski et al.
2018); "FID*" is the Frechet distance in the same space. Numbers in this space are NOT
comparable with published FID/KID.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
RUNS = Path(os.environ.get("FACES_RUNS", "/tmp/gankit-faces-runs"))
PRESETS = ("faces-dcgan", "faces-progan", "faces-stylegan")
# longer runs for one question each, trained on request only (not by run_all.sh)
EXTRA_PRESETS = ("faces-stylegan32-long",)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- data
def data_root() -> Path:
    root = os.environ.get("GANKIT_DATA")
    if not root or not (Path(root) / "celeba_subset" / "img").is_dir():
        sys.exit("set GANKIT_DATA to the shared data folder (with celeba_subset/img)")
    return Path(root)


def load_faces(root: Path, size: int = 64, crop: int = 89) -> torch.Tensor:
    """The 5,000 subset faces as uint8 N x 3 x 64 x 64: centre crop 89, Lanczos resize 64."""
    from PIL import Image

    files = sorted((root / "celeba_subset" / "img").glob("*.jpg"))
    out = np.empty((len(files), size, size, 3), np.uint8)
    for i, f in enumerate(files):
        with Image.open(f) as im:
            im = im.convert("RGB")
            w, h = im.size
            c = min(crop, w, h)
            left, top = (w - c) // 2, (h - c) // 2
            out[i] = np.asarray(im.crop((left, top, left + c, top + c))
                                .resize((size, size), Image.Resampling.LANCZOS))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def ensure_celeba_dataset() -> str:
    """Use gankit's ``celeba`` dataset when present; else register a stand-in with the same
    pipeline (centre crop, resize, flips), so this script runs before the data layer lands."""
    from gankit.data.base import ImageDataset
    from gankit.registry import DATASETS

    if "celeba" in DATASETS:
        return "gankit celeba dataset"

    def celeba(arg, cfg):
        images = load_faces(data_root(), cfg.resolution or 64, cfg.center_crop or 89)
        return ImageDataset(images, None, flip=cfg.flip, source="celeba_subset (benchmark "
                                                                 "stand-in loader)")

    DATASETS.register("celeba")(celeba)
    return "benchmark stand-in loader (gankit celeba dataset not on this branch yet)"


# --------------------------------------------------------------------------- training
def cmd_train(args) -> None:
    from gankit.config import load_config
    from gankit.train.callbacks import Callback
    from gankit.train.trainer import Trainer

    torch.set_num_threads(1)
    loader = ensure_celeba_dataset()
    cfg = load_config(args.preset, [f"data.root={data_root()}", "train.threads=1",
                                    "train.progress=false", f"train.log_every={args.log_every}",
                                    *args.set])
    preset_steps = cfg.train.steps
    cfg.train.steps = preset_steps * 20  # the CPU budget ends the run

    out = RUNS / (args.name or args.preset)

    class CpuBudget(Callback):
        prior = 0.0  # training CPU seconds of earlier segments of a resumed run
        stopped_by = "cpu budget"

        def on_start(self, trainer):
            self.t0, self.w0 = cpu_seconds(), time.time()
            if trainer.step:  # resumed: count the CPU time logged up to the checkpoint
                for line in (out / "stats.jsonl").read_text().splitlines():
                    rec = json.loads(line)
                    if rec.get("step", 0) <= trainer.step and "cpu_s" in rec:
                        self.prior = rec["cpu_s"]

        def used(self):
            return self.prior + cpu_seconds() - self.t0

        def on_log(self, trainer, record):
            used = self.used()
            record["cpu_s"] = round(used, 1)
            stop_file = args.stop_file and Path(args.stop_file).exists()
            if used >= args.cpu or stop_file:
                self.stopped_by = "cpu budget" if used >= args.cpu else "stop file"
                trainer.cfg.train.steps = trainer.step  # the loop ends, _finish runs

    budget = CpuBudget()
    c0 = cpu_seconds()
    # the budget alone, as in the measured runs (callbacks now add to the report and health
    # monitor, whose work would count against the CPU budget)
    trainer = Trainer(cfg, out, "auto" if args.resume else None, callbacks=[budget],
                      default_callbacks=False)
    setup_cpu = cpu_seconds() - c0
    trainer.run()
    info = {"preset": args.preset, "run": args.name or args.preset, "cpu_budget_s": args.cpu,
            "train_cpu_s": round(budget.used(), 1), "stopped_by": budget.stopped_by,
            "cpu_s_before_resume": round(budget.prior, 1),
            "setup_cpu_s": round(setup_cpu, 1), "wall_s": round(time.time() - budget.w0, 1),
            "steps": trainer.step, "preset_steps": preset_steps,
            "images_seen": trainer.images_seen, "batch_size": cfg.train.batch_size,
            "model_extra": trainer.model.extra_state(), "data_loader": loader,
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "overrides": args.set}
    (out / "benchmark.json").write_text(json.dumps(info, indent=2) + "\n")
    print(json.dumps(info, indent=2))


# --------------------------------------------------------------------------- features
class RandomFeatures(nn.Module):
    """Fixed random conv net (seed 0); BN statistics are set on real faces by ``calibrate``."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        chans = [3, 32, 64, 128, 256, 512]
        self.blocks = nn.ModuleList()
        for i in range(5):
            conv = nn.Conv2d(chans[i], chans[i + 1], 3 if i == 0 else 4, 1 if i == 0 else 2,
                             1, bias=False)
            with torch.no_grad():
                fan_in = conv.weight[0].numel()
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g)
                                  * (2.0 / fan_in) ** 0.5)
            self.blocks.append(nn.Sequential(conv, nn.BatchNorm2d(chans[i + 1], momentum=None),
                                             nn.ReLU()))

    def forward(self, x):  # x: float [-1, 1], N x 3 x 64 x 64
        feats = []
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i >= 2:
                feats.append(x.mean((2, 3)))
        return torch.cat(feats, 1)

    @torch.no_grad()
    def calibrate(self, real_u8: torch.Tensor) -> None:
        self.train()
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.reset_running_stats()  # momentum None: cumulative average over all batches
        for i in range(0, len(real_u8), 250):
            self(real_u8[i:i + 250].float() / 127.5 - 1)
        self.eval()

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> np.ndarray:
        out = []
        for i in range(0, len(images), 250):
            x = images[i:i + 250]
            x = x.float() / 127.5 - 1 if x.dtype == torch.uint8 else x.float()
            out.append(self(x))
        return torch.cat(out).double().numpy()


def kid(f1: np.ndarray, f2: np.ndarray, n_subsets: int = 50, subset: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """Unbiased MMD^2, cubic polynomial kernel, mean and std over random subsets.

    Dot products in float32 (the CPU time goes there), kernel sums in float64.
    """
    rng = np.random.default_rng(seed)
    d = f1.shape[1]
    m = min(subset, len(f1), len(f2))
    a, b = f1.astype(np.float32), f2.astype(np.float32)
    vals = []
    for _ in range(n_subsets):
        x = a[rng.choice(len(a), m, replace=False)]
        y = b[rng.choice(len(b), m, replace=False)]
        kxx = ((x @ x.T).astype(np.float64) / d + 1) ** 3
        kyy = ((y @ y.T).astype(np.float64) / d + 1) ** 3
        kxy = ((x @ y.T).astype(np.float64) / d + 1) ** 3
        vals.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                    + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
    return float(np.mean(vals)), float(np.std(vals))


def frechet(f1: np.ndarray, f2: np.ndarray) -> float:
    from scipy import linalg

    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = np.real(linalg.sqrtm(s1 @ s2))
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


# --------------------------------------------------------------------------- evaluation
def cmd_eval(args) -> None:
    from gankit.data.base import to_uint8
    from gankit.sampling import load_generator
    from gankit.sampling.grids import mixing_grid
    from gankit.utils.images import save_grid

    torch.set_num_threads(1)
    real = load_faces(data_root())
    # reference half / held-out half of the real faces (every image was also a training image)
    ref, other = real[2500:], real[:2500]
    net = RandomFeatures()
    net.calibrate(real)
    f_ref = net.features(ref)
    rows = {}
    f_other = net.features(other[:args.n_fake])
    rows["real faces (other half)"] = {"kid": kid(f_other, f_ref), "fid_sub": frechet(f_other,
                                                                                    f_ref)}
    blurred = torch.nn.functional.interpolate(
        torch.nn.functional.avg_pool2d(other[:args.n_fake].float(), 8), scale_factor=8,
        mode="nearest").round().to(torch.uint8)
    f_blur = net.features(blurred)
    rows["real faces pixelated to 8x8"] = {"kid": kid(f_blur, f_ref),
                                           "fid_sub": frechet(f_blur, f_ref)}
    noise = torch.randint(0, 256, (args.n_fake, 3, 64, 64), generator=torch.Generator()
                          .manual_seed(0), dtype=torch.uint8)
    f_noise = net.features(noise)
    rows["uniform noise"] = {"kid": kid(f_noise, f_ref), "fid_sub": frechet(f_noise, f_ref)}
    for preset in args.presets:
        run = RUNS / preset
        if not (run / "benchmark.json").exists():
            print(f"skipping {preset}: no finished benchmark run in {run}")
            continue
        meta = json.loads((run / "benchmark.json").read_text())
        gen = load_generator(run / "export", "cpu")
        seeds = list(range(100_000, 100_000 + args.n_fake))
        t0 = time.process_time()
        fake = to_uint8(gen.generate(seeds, batch_size=250))
        gen_cpu = time.process_time() - t0
        res = fake.shape[-1]
        if res != 64:
            # the feature net sees 64x64: upsample, and score real faces made at the same
            # resolution the same way, the floor that resolution alone sets
            def up(x):
                return torch.nn.functional.interpolate(
                    x.float(), size=64, mode="bilinear", align_corners=False
                ).round().clamp(0, 255).to(torch.uint8)

            key = f"real faces at {res}x{res} (Lanczos), bilinear up to 64"
            if key not in rows:
                low = up(load_faces(data_root(), size=res)[:args.n_fake])
                f_low = net.features(low)
                rows[key] = {"kid": kid(f_low, f_ref), "fid_sub": frechet(f_low, f_ref)}
            fake = up(fake)
        f_fake = net.features(fake)
        rows[preset] = {"kid": kid(f_fake, f_ref), "fid_sub": frechet(f_fake, f_ref),
                        "gen_cpu_s_per_1000": round(gen_cpu / args.n_fake * 1000, 2), **meta}
        save_grid(fake[:48], HERE / f"samples-{preset}.jpg", nrow=8)
        if "truncate" in gen.capabilities:
            z_seeds = list(range(8))
            grid = torch.cat([gen.generate(z_seeds, psi=p) for p in (0.0, 0.5, 0.7, 1.0)])
            save_grid(grid, HERE / f"truncation-{preset}.jpg", nrow=8)
        if "mix" in gen.capabilities:
            # what `gankit mix RUN --rows 0-4 --cols 10-14 --layers 4,NUM_WS` draws: row seeds
            # give the 4x4 and 8x8 styles, column seeds the rest; sources in row/column 0
            mix, ncol = mixing_grid(gen, list(range(5)), list(range(10, 15)),
                                    mix_layers=(4, gen.model.num_ws))
            save_grid(mix, HERE / f"mixing-{preset}.jpg", nrow=ncol)
        print(preset, rows[preset]["kid"], rows[preset]["fid_sub"], flush=True)
    out = {"feature_net": "random conv net (seed 0), BN stats set on the 5,000 real faces, "
                          "896-d (substitute, not Inception)",
           "reference": "real faces 2501..5000 (64x64, centre crop 89)",
           "n_fake": args.n_fake, "kid_subsets": "50 x 1000", "rows": rows}
    old = HERE / "results.json"
    if old.exists():  # keep the rows of runs evaluated earlier (same deterministic features)
        prev = json.loads(old.read_text()).get("rows", {})
        out["rows"] = {**prev, **rows}
    old.write_text(json.dumps(out, indent=2) + "\n")
    for k, v in out["rows"].items():
        print(f"{k:32s} KID {v['kid'][0]:.4f} +- {v['kid'][1]:.4f}  FID* {v['fid_sub']:.2f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train")
    t.add_argument("preset", choices=PRESETS + EXTRA_PRESETS)
    t.add_argument("--cpu", type=float, default=180, help="CPU seconds of training")
    t.add_argument("--log-every", type=int, default=5)
    t.add_argument("--set", action="append", default=[], help="extra config override")
    t.add_argument("--name", help="run folder name (default: the preset), for variants")
    t.add_argument("--resume", action="store_true",
                   help="continue the run folder's latest checkpoint; --cpu is then the total "
                        "over all segments (the CPU time logged up to that checkpoint counts)")
    t.add_argument("--stop-file", help="also end the run (checkpoint + export) at the first "
                                       "log line after this file appears")
    e = sub.add_parser("eval")
    e.add_argument("--presets", nargs="*", default=list(PRESETS), help="run folder names")
    e.add_argument("--n-fake", type=int, default=2000)
    args = p.parse_args()
    {"train": cmd_train, "eval": cmd_eval}[args.cmd](args)


if __name__ == "__main__":
    main()
