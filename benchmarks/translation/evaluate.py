"""Evaluate trained translation runs for benchmarks/translation/RESULTS.md.

    PYTHONPATH=src python benchmarks/translation/evaluate.py edges2fashion RUN_PIX2PIX RUN_L1
    PYTHONPATH=src python benchmarks/translation/evaluate.py digits RUN_CYCLEGAN
    PYTHONPATH=src python benchmarks/translation/evaluate.py maps RUN [RUN ...] [--resolution=256]
                                                                 [--tiles] [--grid=PNG]

Feature network: no Inception weights are available offline (see shared/data/README.md), so
FID and KID are computed on the penultimate features (128-d) of small CNN classifiers trained
here on the *real training images* of the target domain ("classifier FID/KID", the usual
stand-in on MNIST-like data). Numbers are therefore comparable between runs evaluated by this
script, not with published Inception FIDs. The classifiers are cached in ``_work/``.

* edges2fashion: feature net = 10-way Fashion-MNIST classifier (32x32 items). Outputs of the
  held-out test split (first N test items' edges) are scored with L1 / PSNR / SSIM against
  their targets and with FID / KID against *other* real test items (a disjoint reference set);
  a real-vs-real row gives the floor.
* digits: feature net = 20-way classifier of (digit, domain) on both domains' training
  images, so its features see both content and style. KID of G_AB(A_test) vs real B test
  images is compared with the identity baseline KID(A_test, B); content is checked with the
  A -> B -> A reconstruction error and with an independent 10-way digit classifier trained on
  real B-domain images only (does it read the digit of A in G_AB(A)?).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.base import to_float
from gankit.metrics.paired import paired_metrics
from gankit.sampling.translate import load_translator

WORK = Path(__file__).parent / "_work"
torch.set_num_threads(1)


# --------------------------------------------------------------------------- metrics on features

def kid(f1: np.ndarray, f2: np.ndarray, subsets: int = 100, size: int = 1000,
        seed: int = 0) -> tuple[float, float]:
    """KID (Binkowski et al. 2018): unbiased MMD^2, kernel (x.y / d + 1)^3, mean/std of subsets."""
    try:  # the shared implementation once the metrics work is merged
        from gankit.metrics.scores import kernel_inception_distance
        out = kernel_inception_distance(f1, f2, subsets=subsets, subset_size=size)
        return (float(out[0]), float(out[1])) if isinstance(out, tuple) else (float(out), 0.0)
    except (ImportError, TypeError):
        pass
    rng = np.random.default_rng(seed)
    d = f1.shape[1]
    m = min(size, len(f1), len(f2))
    vals = []
    for _ in range(subsets):
        x = f1[rng.choice(len(f1), m, replace=False)]
        y = f2[rng.choice(len(f2), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) / d + 1) ** 3, ((y @ y.T) / d + 1) ** 3, ((x @ y.T) / d + 1) ** 3
        off = m * (m - 1)
        mmd = ((kxx.sum() - np.trace(kxx)) / off + (kyy.sum() - np.trace(kyy)) / off
               - 2 * kxy.mean())
        vals.append(mmd)
    return float(np.mean(vals)), float(np.std(vals))


def fid(f1: np.ndarray, f2: np.ndarray) -> float:
    try:
        from gankit.metrics.scores import fid_from_features
        return float(fid_from_features(f1, f2))
    except ImportError:
        pass
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    # Tr sqrt(s1 s2) = sum sqrt(eig(sqrt(s1) s2 sqrt(s1))): symmetric eigensolves, stable on the
    # rank-deficient covariances that ReLU features (dead units) give
    w, v = np.linalg.eigh(s1)
    r1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = r1 @ s2 @ r1
    tr = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr)


# --------------------------------------------------------------------------- classifier

class SmallCNN(nn.Module):
    def __init__(self, channels: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, 1, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(128, 128), nn.ReLU())
        self.head = nn.Linear(128, classes)

    def forward(self, x):
        return self.head(self.body(x))

    @torch.no_grad()
    def features(self, x: torch.Tensor, bs: int = 500) -> np.ndarray:
        self.eval()
        return torch.cat([self.body(x[i:i + bs].float()) for i in range(0, len(x), bs)]).numpy()

    @torch.no_grad()
    def predict(self, x: torch.Tensor, bs: int = 500) -> torch.Tensor:
        self.eval()
        return torch.cat([self(x[i:i + bs].float()).argmax(1) for i in range(0, len(x), bs)])


def classifier(name: str, x: torch.Tensor, y: torch.Tensor, classes: int,
               steps: int = 1500) -> SmallCNN:  # 1500 x 64 images = 1.6 Fashion-MNIST epochs
    """Train (or load from _work/) a classifier on float images x (N x C x 32 x 32, [-1, 1])."""
    path = WORK / f"classifier-{name}.pt"
    net = SmallCNN(x.shape[1], classes)
    if path.exists():
        net.load_state_dict(torch.load(path, weights_only=True))
        return net
    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    t = time.time()
    for _ in range(steps):
        idx = torch.randint(0, len(x), (64,), generator=g)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    WORK.mkdir(exist_ok=True)
    torch.save(net.state_dict(), path)
    print(f"trained classifier {name} in {time.time() - t:.0f}s", file=sys.stderr)
    return net


def accuracy(net: SmallCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((net.predict(x) == y).float().mean())


@torch.no_grad()
def translate_all(model, x: torch.Tensor, direction: str, bs: int = 200) -> torch.Tensor:
    model.eval()
    return torch.cat([model.translate(x[i:i + bs], direction).float().clamp(-1, 1)
                      for i in range(0, len(x), bs)])


def quantise(x: torch.Tensor) -> torch.Tensor:
    """Round outputs to 8-bit levels as a saved image would be, back in [-1, 1]."""
    return to_float(x.add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8))


# --------------------------------------------------------------------------- tasks

def edges2fashion(runs: list[str], n: int = 2000) -> dict:
    test = load_dataset(DataConfig(dataset="edges2fashion", split="test"))
    train = load_dataset(DataConfig(dataset="edges2fashion", split="train"))
    from gankit.data.paired_builtin import _idx_split
    _, ytr, _ = _idx_split(DataConfig(split="train"), "fashion-mnist")
    _, yte, _ = _idx_split(DataConfig(split="test"), "fashion-mnist")
    net = classifier("fashion", to_float(train.B), ytr, 10)
    a, b = to_float(test.A[:n]), to_float(test.B[:n])
    ref = to_float(test.B[n:n + 4000])
    f_ref = net.features(ref)
    out = {"feature_net": "SmallCNN Fashion-MNIST classifier, 128-d penultimate features, "
                          "trained on the 60k real training items",
           "classifier_test_accuracy": accuracy(net, to_float(test.B), yte),
           "test_images": n, "reference_images": len(ref), "rows": {}}
    f_real = net.features(b)
    out["rows"]["real test items (floor)"] = {"fid": fid(f_real, f_ref),
                                              "kid": kid(f_real, f_ref),
                                              "class_agreement": accuracy(net, b, yte[:n])}
    for run in runs:
        model = load_translator(run)
        t = time.time()
        y = quantise(translate_all(model, a, "AtoB"))
        f = net.features(y)
        row = paired_metrics(y, b)
        row.update(fid=fid(f, f_ref), kid=kid(f, f_ref),
                   class_agreement=accuracy(net, y, yte[:n]), seconds=round(time.time() - t, 1),
                   adv_weight=model.cfg.adv_weight)
        out["rows"][run] = row
    return out


def digits(run: str, n: int = 2000) -> dict:
    tr = load_dataset(DataConfig(dataset="digits-style", split="train"))
    te = load_dataset(DataConfig(dataset="digits-style", split="test"))
    xa, xb = to_float(tr.A), to_float(tr.B)
    feat = classifier("digits-domain", torch.cat([xa[:20000], xb[:20000]]),
                      torch.cat([tr.labels_A[:20000], tr.labels_B[:20000] + 10]), 20, steps=800)
    clf_b = classifier("digits-B", xb, tr.labels_B, 10, steps=800)
    a, b = to_float(te.A[:n]), to_float(te.B[:n])
    ya, yb = te.labels_A[:n], te.labels_B[:n]
    ref_a, ref_b = to_float(te.A[n:]), to_float(te.B[n:])   # disjoint real reference sets
    fa_ref, fb_ref = feat.features(ref_a), feat.features(ref_b)
    model = load_translator(run)
    fake_b = quantise(translate_all(model, a, "AtoB"))
    rec_a = quantise(translate_all(model, fake_b, "BtoA"))
    fake_a = quantise(translate_all(model, b, "BtoA"))
    rec_b = quantise(translate_all(model, fake_a, "AtoB"))
    l1 = lambda x, y: float((x - y).abs().mean() / 2)  # noqa: E731  ([0, 1] scale)
    return {
        "feature_net": "SmallCNN 20-way (digit x domain) classifier, 128-d penultimate features, "
                       "trained on 20k real training images of each domain",
        "digit_classifier": "SmallCNN 10-way, trained on real B-domain (styled) training images "
                            f"only; accuracy on real B test images {accuracy(clf_b, b, yb):.4f}",
        "test_images": n, "reference_images": [len(ref_a), len(ref_b)],
        "AtoB": {"kid_identity": kid(feat.features(a), fb_ref),
                 "kid_translated": kid(feat.features(fake_b), fb_ref),
                 "kid_real_floor": kid(feat.features(b), fb_ref),
                 "fid_identity": fid(feat.features(a), fb_ref),
                 "fid_translated": fid(feat.features(fake_b), fb_ref),
                 "cycle_l1": l1(rec_a, a),
                 "digit_agreement_B_classifier_on_G_AB(A)": accuracy(clf_b, fake_b, ya),
                 "digit_agreement_B_classifier_on_untranslated_A": accuracy(clf_b, a, ya)},
        "BtoA": {"kid_identity": kid(feat.features(b), fa_ref),
                 "kid_translated": kid(feat.features(fake_a), fa_ref),
                 "kid_real_floor": kid(feat.features(a), fa_ref),
                 "cycle_l1": l1(rec_b, b)},
    }


def translate_tiled(model, x: torch.Tensor, tile: int) -> torch.Tensor:
    """Translate ``x`` in non-overlapping ``tile`` x ``tile`` pieces (the size G was trained
    on) and put the outputs back together."""
    n, c, h, w = x.shape
    tiles = x.unfold(2, tile, tile).unfold(3, tile, tile)        # N C h/t w/t t t
    gh, gw = tiles.shape[2], tiles.shape[3]
    flat = tiles.permute(0, 2, 3, 1, 4, 5).reshape(-1, c, tile, tile)
    y = translate_all(model, flat, "AtoB")
    y = y.reshape(n, gh, gw, c, tile, tile).permute(0, 3, 1, 4, 2, 5)
    return y.reshape(n, c, gh * tile, gw * tile)


def maps(runs: list[str], resolution: int = 0, tiles: bool = False, grid: str = "") -> dict:
    """L1 / PSNR / SSIM on the 10 held-out maps pairs (too few images for FID/KID), with two
    reference points: the input photo itself, and the mean training map.

    ``resolution`` (default: the first run's training resolution) is the size the test pairs
    and the mean training map are loaded at. A U-Net trained on crops smaller than that (e.g.
    ``maps:jitter=2``: 128-px crops of pairs loaded at 256) is applied to the whole image
    (it is fully convolutional), or with ``tiles`` to non-overlapping crops of its training
    size, stitched. ``grid``: also save an image of rows photo | each run's output | true map.
    """
    models = [load_translator(run) for run in runs]
    res = resolution or models[0].info.resolution
    te = load_dataset(DataConfig(dataset="maps", split="test", resolution=res))
    tr = load_dataset(DataConfig(dataset="maps:jitter=1", split="train", resolution=res))
    a, b = to_float(te.A), to_float(te.B)
    mean_map = to_float(tr.B).mean(0, keepdim=True).expand_as(b)
    out: dict = {"test_pairs": len(te), "resolution": res,
                 "mode": "tiles" if tiles else "whole image"}
    cols = [a]
    for run, model in zip(runs, models):
        y = (translate_tiled(model, a, model.info.resolution)
             if tiles and model.info.resolution < res else translate_all(model, a, "AtoB"))
        cols.append(quantise(y))
        name = "pix2pix" if model.cfg.adv_weight > 0 else "L1-only U-Net"
        key = name if len(runs) == 1 else f"{name}: {run}"
        out[key] = paired_metrics(quantise(y), b)
        out[key]["train_resolution"] = model.info.resolution
    out["baseline: mean training map"] = paired_metrics(quantise(mean_map), b)
    out["baseline: input photo"] = paired_metrics(a, b)
    if grid:
        from gankit.utils.images import make_grid, save_image
        cols.append(b)
        rows = torch.stack(cols, 1).flatten(0, 1)
        save_image(make_grid(rows, nrow=len(cols), padding=4, pad_value=255), grid)
        out["grid"] = grid
    return out


def main(argv: list[str]) -> None:
    task = argv[0]
    opts = dict(a[2:].split("=", 1) if "=" in a else (a[2:], "1")
                for a in argv[1:] if a.startswith("--"))
    runs = [a for a in argv[1:] if not a.startswith("--")]
    t = time.time()
    tasks = {"edges2fashion": lambda: edges2fashion(runs), "digits": lambda: digits(runs[0]),
             "maps": lambda: maps(runs, int(opts.get("resolution", 0)), "tiles" in opts,
                                 opts.get("grid", ""))}
    res = tasks[task]()
    res["eval_seconds"] = round(time.time() - t, 1)
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
