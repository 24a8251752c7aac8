"""Accuracy and speed of gankit's Tr sqrt(S1 S2) against scipy.linalg.sqrtm (pytorch-fid's way).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 PYTHONPATH=src nice -n 10 \
        /work/venv/bin/python benchmarks/fid/sqrtm.py --dim 2048 --num 5000

Covariances of random correlated features (N x D) with a shifted second set; FID computed both
ways, repeated (A/B alternated), median time; BLAS threads fixed by the environment variables.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dim", type=int, default=2048)
    ap.add_argument("--num", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import os

    import scipy.linalg

    from gankit.metrics.scores import feature_stats, frechet_distance

    rng = np.random.default_rng(0)
    mix = rng.normal(size=(args.dim, args.dim)) / np.sqrt(args.dim)
    f1 = np.maximum(rng.normal(size=(args.num, args.dim)) @ mix, 0)  # ReLU-like features
    f2 = np.maximum(rng.normal(size=(args.num, args.dim)) @ mix + 0.1, 0)
    (m1, s1), (m2, s2) = feature_stats(f1), feature_stats(f2)

    def scipy_fid():
        covmean, _ = scipy.linalg.sqrtm(s1 @ s2, disp=False)
        d = m1 - m2
        return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean).real)

    t_ours, t_ref = [], []
    for r in range(args.rounds):
        for which in ((0, 1) if r % 2 == 0 else (1, 0)):
            t0 = time.perf_counter()
            if which == 0:
                ours = frechet_distance(m1, s1, m2, s2)
                t_ours.append(time.perf_counter() - t0)
            else:
                ref = scipy_fid()
                t_ref.append(time.perf_counter() - t0)
    print(json.dumps({"dim": args.dim, "num": args.num,
                      "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
                      "fid_gankit": ours, "fid_scipy_sqrtm": ref,
                      "rel_diff": abs(ours - ref) / abs(ref),
                      "median_s_gankit": statistics.median(t_ours),
                      "median_s_scipy": statistics.median(t_ref),
                      "speedup": statistics.median(t_ref) / statistics.median(t_ours)}, indent=1))


if __name__ == "__main__":
    main()
