"""Score Stacked MNIST samples: modes covered (of 1,000) and KL(q || uniform).

The Unrolled-GAN / VEEGAN / PacGAN protocol (26,000 samples): each of the three channels of a
sample is read as a digit by an MNIST classifier; the sample's *mode* is the triple
``100 * d_R + 10 * d_G + d_B``. A mode is *covered* when at least one sample falls in it;
*KL* = KL(q || p) = sum_k q_k log(q_k * 1000) of the histogram q of the samples over the
1,000 modes against the uniform p (0 = balanced; log 1000 = 6.91 = a single mode). The
classifier is gankit's MNIST feature net (``gankit evaluate train-feature-net mnist``, weights
in ``~/.cache/gankit/weights/mnist-classifier.safetensors``); it is the only piece of gankit
used here.

Even a perfect sampler of the real data does not score KL 0 with 26,000 samples: the
multinomial noise of the histogram alone gives E[KL] ~ (K - 1) / (2 N) = 0.019. Run ``--real``
to see what real stacked data score.

Usage::

    python benchmarks/modes/stacked_score.py samples.npz [--json]   # from gankit sample --npz
    python benchmarks/modes/stacked_score.py --real stacked-mnist:test,seed=1 [-n 26000]

``samples.npz`` holds uint8 ``images`` N x H x W x 3 (what ``gankit sample --npz`` writes);
32 x 32 images (the padded variant) are centre-cropped to 28 x 28.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

# gankit (the classifier, and run_stacked.py's sampling) from this repository's src/, as the
# trainings of run.py use it, whether or not gankit is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

MODES = 1000
CONFIDENT = 0.9  # softmax probability for a digit to count as clearly read


def read_digits(images: np.ndarray, weights: str | None = None, batch: int = 1000
                ) -> tuple[np.ndarray, np.ndarray]:
    """uint8 N x H x W x 3 -> (digits N x 3 int, max softmax probability N x 3)."""
    import torch

    from gankit.metrics.mnist_net import load_classifier

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must be uint8 N x H x W x 3, got {images.dtype} "
                         f"{images.shape}")
    h, w = images.shape[1:3]
    if (h, w) != (28, 28):
        if h < 28 or w < 28:
            raise ValueError(f"images must be at least 28 x 28, got {h} x {w}")
        top, left = (h - 28) // 2, (w - 28) // 2
        images = images[:, top:top + 28, left:left + 28]
    model, _ = load_classifier(weights)
    # channel k of sample i -> row 3 i + k of a greyscale batch
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).reshape(-1, 1, 28, 28)
    preds, confs = [], []
    with torch.inference_mode():
        for lo in range(0, len(x), batch):
            logits = model(x[lo:lo + batch].float() / 127.5 - 1)[1]
            p = logits.softmax(1)
            conf, pred = p.max(1)
            preds.append(pred.numpy())
            confs.append(conf.numpy())
    n = len(images)
    return np.concatenate(preds).reshape(n, 3), np.concatenate(confs).reshape(n, 3)


def score_digits(digits: np.ndarray, conf: np.ndarray | None = None) -> dict:
    """Modes covered and KL(q || uniform) of digit triples (N x 3 ints in 0..9)."""
    digits = np.asarray(digits, dtype=np.int64)
    modes = digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]
    counts = np.bincount(modes, minlength=MODES)
    q = counts / len(modes)
    nz = q > 0
    kl = float((q[nz] * np.log(q[nz] * MODES)).sum())
    # per-channel digit balance: a generator may cover few triples because one channel
    # collapses to few digits, or because the channels are correlated
    chan_kl = []
    for k in range(3):
        h = np.bincount(digits[:, k], minlength=10) / len(digits)
        m = h > 0
        chan_kl.append(round(float((h[m] * np.log(h[m] * 10)).sum()), 4))
    out = {"n": int(len(modes)), "modes": int(nz.sum()), "of": MODES, "kl": kl,
           "top_mode_share": float(q.max()), "channel_kl": chan_kl,
           "expected_kl_uniform_sampling": (MODES - 1) / (2 * len(modes))}
    if conf is not None:
        # not part of the published protocol: a blurry sample is still read as *some* triple,
        # so we also count the modes among samples whose three digits are each read with
        # probability > 0.9 (the analogue of the 2-D benchmark's "high quality")
        sure = np.min(conf, 1) > CONFIDENT
        out["mean_confidence"] = float(np.mean(conf))
        out["confident_percent"] = float(100 * sure.mean())
        out["modes_confident"] = int(len(np.unique(modes[sure])))
    return out


def score_images(images: np.ndarray, weights: str | None = None) -> dict:
    digits, conf = read_digits(images, weights)
    return score_digits(digits, conf)


def real_images(spec: str, n: int, root: str = "") -> np.ndarray:
    """The first ``n`` examples of a stacked-mnist spec as uint8 N x H x W x 3."""
    import torch

    from gankit.config import DataConfig
    from gankit.data import load_dataset

    ds = load_dataset(DataConfig(dataset=spec, limit=n, root=root))
    return ds.images_at(torch.arange(n)).permute(0, 2, 3, 1).numpy()


def describe(s: dict) -> str:
    return (f"{s['modes']}/{s['of']} modes, KL {s['kl']:.3f} ({s['n']} samples; per-channel "
            f"digit KL {s['channel_kl']}, mean confidence {s.get('mean_confidence', math.nan):.3f}"
            f", all three digits > 0.9: {s.get('confident_percent', math.nan):.1f}% of samples, "
            f"{s.get('modes_confident', 0)} modes)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("npz", nargs="?", help="npz with uint8 `images` N x H x W x 3")
    p.add_argument("--real", metavar="SPEC", help="score real data instead, e.g. stacked-mnist "
                                                  "or stacked-mnist:test,seed=1")
    p.add_argument("-n", type=int, default=26000, help="examples for --real (default 26000)")
    p.add_argument("--weights", help="MNIST classifier weights (default: gankit's cache)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if (a.npz is None) == (a.real is None):
        p.error("give either an npz file or --real SPEC")
    import torch

    torch.set_num_threads(1)
    images = real_images(a.real, a.n) if a.real else np.load(a.npz)["images"]
    s = score_images(images, a.weights)
    s["source"] = a.real or a.npz
    print(json.dumps(s) if a.json else f"{s['source']}: {describe(s)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
