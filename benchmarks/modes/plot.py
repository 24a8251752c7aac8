"""Scatter plots of grid25 / ring8 samples: all points, and two modes up close against real ones.

One column per ``samples.npz`` (what ``gankit sample RUN --npz`` writes). The top row shows
every sample; for grid25 the two rows below zoom on the modes at (0, 0) and (4, 4) with 100
real points (drawn here from the restated mixture, seed 0) and the 3-std circle the HQ
fraction counts inside. The titles carry ``score.py``'s numbers.

    python benchmarks/modes/plot.py RUN1/samples.npz RUN2/samples.npz --dataset grid25 \
        --labels "seed 0,seed 1" --out grid25.png

Needs matplotlib (not a gankit dependency: ``pip install matplotlib``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score import centres, score  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("npz", nargs="+")
    p.add_argument("--dataset", required=True, choices=("ring8", "grid25"))
    p.add_argument("--labels", help="comma-separated column titles (default: the file names)")
    p.add_argument("--out", required=True, help="PNG to write")
    a = p.parse_args(argv)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("plot.py needs matplotlib: pip install matplotlib")
    labels = a.labels.split(",") if a.labels else [Path(f).parent.name for f in a.npz]
    if len(labels) != len(a.npz):
        raise SystemExit(f"--labels has {len(labels)} names for {len(a.npz)} files")
    c, std = centres(a.dataset)
    zoom = [(0.0, 0.0), (4.0, 4.0)] if a.dataset == "grid25" else [tuple(c[0]), tuple(c[2])]
    rng = np.random.default_rng(0)
    rows = 1 + len(zoom)
    fig, axes = plt.subplots(rows, len(a.npz), figsize=(3 * len(a.npz), 3 * rows),
                             squeeze=False)
    for j, (f, label) in enumerate(zip(a.npz, labels)):
        x = np.load(f)["samples"]
        s = score(x, a.dataset)
        ax = axes[0][j]
        ax.scatter(x[:, 0], x[:, 1], s=1)
        ax.set_aspect("equal")
        ax.set_title(f"{label}: {s['modes']} modes, {s['hq_percent']:.1f}% HQ,\n"
                     f"rKL {s['reverse_kl']:.4f}, width {s['mode_width']:.2f} "
                     f"(spread {s['mode_spread']:.2f}, offset {s['mode_offset']:.2f})",
                     fontsize=7)
        for i, m in enumerate(zoom, start=1):
            ax = axes[i][j]
            real = np.asarray(m) + std * rng.standard_normal((100, 2))
            near = x[np.abs(x - np.asarray(m)).max(1) < 6 * std]
            ax.scatter(real[:, 0], real[:, 1], s=3, c="orange", label="real (100)")
            ax.scatter(near[:, 0], near[:, 1], s=3, label=f"G ({len(near)} near)")
            ax.add_patch(plt.Circle(m, 3 * std, fill=False, color="red"))
            ax.set_xlim(m[0] - 5 * std, m[0] + 5 * std)
            ax.set_ylim(m[1] - 5 * std, m[1] + 5 * std)
            ax.set_aspect("equal")
            ax.set_title(f"mode ({m[0]:g}, {m[1]:g}), 3-std circle", fontsize=7)
            ax.legend(fontsize=5, loc="upper right")
    fig.tight_layout()
    fig.savefig(a.out, dpi=80)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
