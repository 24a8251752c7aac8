"""Score 2D samples against a Gaussian mixture: modes captured, % high quality, reverse KL.

The VEEGAN / PacGAN / GDPP protocol (2,500 samples):

* a sample is *high quality* (HQ) if it lies within 3 standard deviations of its nearest
  mode centre;
* a mode is *captured* if at least one HQ sample has it as its nearest centre;
* *reverse KL* = KL(q || p) between q, the fraction of all samples whose nearest centre is
  each mode, and p, the true (uniform) mode weights: sum_k q_k log(q_k K). 0 = perfectly
  balanced; log K = everything in one mode.

One extra number, not in the papers: *mode width* = the median over captured modes of the
RMS per-axis spread of that mode's HQ samples around its centre, in units of the true std.
Real data give about 0.97 (the 3-std cut trims the tails); a generator that squeezes each
mode into a narrower blob scores below that, which the HQ fraction alone rewards rather than
penalises.

Two diagnostics of that width, since a narrow blob sitting off the centre also scores a
large RMS distance: *mode spread* = the median over captured modes of the RMS per-axis
spread of the HQ samples around *their own mean* (real data about 0.97 too), and *mode
offset* = the median distance of that mean from the true centre, both in true stds (modes
with fewer than 6 HQ samples are left out of both).

Usage::

    python benchmarks/modes/score.py samples.npz --dataset ring8 [--json]

``samples.npz`` holds an N x 2 float array under ``samples`` (what ``gankit sample --npz``
writes for point data). The mixture geometry is restated here rather than imported so this
scorer stays independent of the code it checks.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np


def centres(name: str) -> tuple[np.ndarray, float]:
    if name == "ring8":
        a = np.arange(8) * 2 * math.pi / 8
        return np.stack([np.cos(a), np.sin(a)], 1), 0.01
    if name == "grid25":
        g = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
        return np.array([(x, y) for x in g for y in g]), 0.05
    raise SystemExit(f"unknown mixture {name!r} (ring8 or grid25)")


def score(samples: np.ndarray, name: str) -> dict:
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"samples must be N x 2, got {samples.shape}")
    c, std = centres(name)
    k = len(c)
    d = np.sqrt(((samples[:, None, :] - c[None, :, :]) ** 2).sum(-1))
    nearest = d.argmin(1)
    dist = d[np.arange(len(samples)), nearest]
    hq = dist <= 3 * std
    captured = len(np.unique(nearest[hq]))
    q = np.bincount(nearest, minlength=k) / len(samples)
    nz = q > 0
    rkl = float((q[nz] * np.log(q[nz] * k)).sum())
    widths = [math.sqrt((dist[hq & (nearest == m)] ** 2).mean() / 2) / std
              for m in np.unique(nearest[hq])]
    spreads, offsets = [], []
    for m in np.unique(nearest[hq]):
        p = samples[hq & (nearest == m)]
        if len(p) > 5:
            mu = p.mean(0)
            spreads.append(math.sqrt(((p - mu) ** 2).sum(1).mean() / 2) / std)
            offsets.append(float(np.linalg.norm(mu - c[m])) / std)
    return {"n": int(len(samples)), "modes": int(captured), "of": k,
            "hq_percent": float(100 * hq.mean()), "reverse_kl": rkl,
            "mode_width": float(np.median(widths)) if widths else float("nan"),
            "mode_spread": float(np.median(spreads)) if spreads else float("nan"),
            "mode_offset": float(np.median(offsets)) if offsets else float("nan"),
            "finite": bool(np.isfinite(samples).all())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("npz")
    p.add_argument("--dataset", required=True, choices=("ring8", "grid25"))
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    s = score(np.load(a.npz)["samples"], a.dataset)
    if a.json:
        print(json.dumps(s))
    else:
        print(f"{a.dataset}: {s['modes']}/{s['of']} modes, {s['hq_percent']:.1f}% high quality, "
              f"reverse KL {s['reverse_kl']:.3f}, mode width {s['mode_width']:.2f} "
              f"(spread {s['mode_spread']:.2f}, offset {s['mode_offset']:.2f}) "
              f"({s['n']} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
