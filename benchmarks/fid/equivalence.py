"""Prove gankit's FID Inception is pytorch-fid's network, and time both pipelines.

The official weights (pt_inception-2015-12-05-6726825d.pth) cannot be fetched here, so this
script makes a weights file *in pytorch-fid's own format* with random values:

1. build pytorch-fid's ``fid_inception_v3()`` model with torchvision's random init (its
   download is replaced by the model's own state_dict),
2. set every batch-norm's running statistics from a batch of real CIFAR-10 images (train mode,
   cumulative average), so activations stay in a sane range through all 94 conv layers,
3. save its state_dict (the layout of the official file) and load that file into both
   pytorch-fid (``InceptionV3``, download monkeypatched to ``torch.load`` of our file) and
   gankit (``--weights``),

then compares 2048-d features and FID between two sets of real images written as PNG files,
and times the two pipelines end to end (PNG files -> mean and covariance) in the same process,
alternating A/B and reporting the median.

Run from the repository root, in the pytorch-fid environment (see benchmarks/README.md):

    GANKIT_DATA=/work/shared/data PYTHONPATH=src nice -n 10 \
        /work/envs/pytorch-fid/bin/python benchmarks/fid/equivalence.py --num 2500
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
WORK = HERE / "_work"


def make_random_weights(path: Path, calib: np.ndarray, seed: int) -> None:
    """Random FID Inception in pytorch-fid's layout, BN statistics from ``calib`` (NHWC uint8)."""
    import pytorch_fid.inception as inc

    torch.manual_seed(seed)
    captured = {}
    orig = inc._inception_v3

    def capture(*a, **k):
        captured["m"] = orig(*a, **k)
        return captured["m"]

    # fid_inception_v3() builds torchvision's Inception3, swaps in the FID blocks, then loads
    # the downloaded file: hand it the model's own (random) state_dict instead
    inc._inception_v3 = capture
    inc.load_state_dict_from_url = lambda *a, **k: captured["m"].state_dict()
    try:
        wrapper = inc.InceptionV3([3])
    finally:
        inc._inception_v3 = orig
    model = captured["m"]
    # torchvision's init is skipped by pytorch-fid (init_weights=False): conv weights are
    # PyTorch's default kaiming-uniform; the BN stats below make every layer zero-mean unit-var
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration batches
    wrapper.train()
    x = torch.from_numpy(calib).permute(0, 3, 1, 2).float() / 255
    with torch.no_grad():
        for chunk in x.split(50):
            wrapper(chunk)
    wrapper.eval()
    torch.save(model.state_dict(), path)


def write_pngs(images: np.ndarray, folder: Path) -> list[Path]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, a in enumerate(images):
        p = folder / f"{i:06d}.png"
        if not p.exists():
            Image.fromarray(a).save(p)
        files.append(p)
    return files


def pytorch_fid_model(weights: Path):
    import pytorch_fid.inception as inc

    inc.load_state_dict_from_url = lambda *a, **k: torch.load(weights, weights_only=True)
    return inc.InceptionV3([3]).eval()


def pytorch_fid_features(model, files, batch=50):
    from pytorch_fid.fid_score import get_activations

    return get_activations([str(f) for f in files], model, batch, 2048, "cpu", num_workers=0)


def gankit_features(net, folder: Path, n: int, batch=50):
    from gankit.metrics.features import extract
    from gankit.metrics.sources import FolderSource

    src = FolderSource(folder)
    return extract(net, src.batches(batch, n), n, progress=False)["pool"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--num", type=int, default=2500, help="images per set for the FID check")
    ap.add_argument("--calib", type=int, default=200, help="images for the BN statistics")
    ap.add_argument("--time-num", type=int, default=200, help="images per timing round")
    ap.add_argument("--rounds", type=int, default=5, help="A/B timing rounds")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(WORK / "results.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from gankit.metrics.features import InceptionFeatures
    from gankit.metrics.scores import feature_stats, frechet_distance
    from pytorch_fid.fid_score import calculate_frechet_distance

    data = Path(os.environ.get("GANKIT_DATA", "/work/shared/data"))
    z = np.load(data / "cifar10_subset" / "cifar10_subset.npz")
    pool = np.concatenate([z["x_train"], z["x_test"]])  # 5000 real 32x32 images, NHWC
    if 2 * args.num > len(pool):
        sys.exit(f"--num {args.num}: only {len(pool)} images, at most {len(pool) // 2} per set")
    set_a, set_b = pool[:args.num], pool[args.num:2 * args.num]
    calib = pool[len(pool) - args.calib:]  # the last images: disjoint from A (and from B
    # unless --num is large); only used to set BN statistics

    WORK.mkdir(exist_ok=True)
    weights = WORK / f"random_fid_inception_seed{args.seed}.pth"
    t0 = time.perf_counter()
    make_random_weights(weights, calib, args.seed)
    print(f"random weights (pytorch-fid layout) -> {weights} in {time.perf_counter() - t0:.0f}s")
    files_a = write_pngs(set_a, WORK / f"cifar_a_{args.num}")
    files_b = write_pngs(set_b, WORK / f"cifar_b_{args.num}")

    ref_model = pytorch_fid_model(weights)
    net = InceptionFeatures(weights=str(weights))

    # ---- equivalence: features and FID on the full sets
    res: dict = {"num_per_set": args.num, "threads": torch.get_num_threads(),
                 "torch": torch.__version__, "python": platform.python_version(),
                 "cpu": platform.processor() or platform.machine()}
    feats = {}
    for name, files in (("a", files_a), ("b", files_b)):
        t0 = time.perf_counter()
        ref = pytorch_fid_features(ref_model, files)
        t1 = time.perf_counter()
        ours = gankit_features(net, files[0].parent, len(files))
        t2 = time.perf_counter()
        feats[name] = (ref, ours)
        err = np.abs(ours.astype(np.float64) - ref)
        res[f"features_{name}"] = {
            "max_abs_diff": float(err.max()),
            "max_rel_diff_vs_feature_scale": float(err.max() / np.abs(ref).max()),
            "mean_abs_feature": float(np.abs(ref).mean()),
            "seconds_pytorch_fid": t1 - t0, "seconds_gankit": t2 - t1}
        print(name, res[f"features_{name}"])
    (ra, oa), (rb, ob) = feats["a"], feats["b"]
    # pytorch-fid's own statistics and distance on its features ...
    mu_a, mu_b = np.mean(ra, axis=0), np.mean(rb, axis=0)
    s_a, s_b = np.cov(ra, rowvar=False), np.cov(rb, rowvar=False)
    fid_ref = float(calculate_frechet_distance(mu_a, s_a, mu_b, s_b))
    # ... and gankit's on its features
    fid_ours = frechet_distance(*feature_stats(oa), *feature_stats(ob))
    # the two distance functions on the same (pytorch-fid) features isolate the sqrtm part
    fid_ours_on_ref = frechet_distance(*feature_stats(ra), *feature_stats(rb))
    res.update(fid_pytorch_fid=fid_ref, fid_gankit=fid_ours, fid_gankit_on_ref_features=
               fid_ours_on_ref, fid_rel_diff=abs(fid_ours - fid_ref) / fid_ref)
    print(f"FID pytorch-fid {fid_ref:.6f}  gankit {fid_ours:.6f}  "
          f"rel diff {res['fid_rel_diff']:.2e}")

    # ---- timing: PNG files -> mean, covariance; alternate A/B, median
    n = min(args.time_num, args.num)
    t_ref, t_ours = [], []
    for r in range(args.rounds):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            t0 = time.perf_counter()
            if which == 0:
                act = pytorch_fid_features(ref_model, files_a[:n])
                np.mean(act, axis=0), np.cov(act, rowvar=False)
                t_ref.append(time.perf_counter() - t0)
            else:
                feature_stats(gankit_features(net, files_a[0].parent, n))
                t_ours.append(time.perf_counter() - t0)
    res["timing"] = {"images": n, "rounds": args.rounds, "batch_size": 50,
                     "seconds_pytorch_fid": t_ref, "seconds_gankit": t_ours,
                     "median_pytorch_fid": statistics.median(t_ref),
                     "median_gankit": statistics.median(t_ours),
                     "speedup": statistics.median(t_ref) / statistics.median(t_ours)}
    print("timing", json.dumps(res["timing"]))
    Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
