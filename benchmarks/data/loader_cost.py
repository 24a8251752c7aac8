"""What the data loader alone costs: CPU per batch, and memory over a whole epoch (issue 19).

    # CPU ms to decode one 32-image batch (with flips) in this process, per data set
    python benchmarks/data/loader_cost.py decode zip:/tmp/set.zip zip:/tmp/set-raw.zip
    # one whole epoch through the StreamLoader with 2 workers, no training: RSS along the way
    python benchmarks/data/loader_cost.py epoch zip:/tmp/set-raw.zip --workers 2

``decode`` streams each data set with ``data.workers=0`` and times ``StreamLoader.images``
(what a worker runs per batch: read/decode, flip, write into the batch) with
``time.process_time`` over ``--batches`` batches after 5 warm-up ones, one thread; it prints
the median and the 10th/90th percentiles. ``epoch`` draws every batch of one epoch
(``ceil(N / batch)`` batches) through the StreamLoader with ``--workers`` processes and samples
``/proc/PID/status`` of the process and its workers every 100 batches: their VmRSS and its
file-backed part RssFile, which would grow with every page read if the data set were
memory-mapped. Both use 128x128 RGB, ``data.flip=true``, batch 32 (``--batch``).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))


def dataset(spec: str, workers: int):
    from gankit.config import config_from_dict
    from gankit.data import load_dataset

    return load_dataset(config_from_dict({"data": {
        "dataset": spec, "resolution": 128, "channels": 3, "flip": True, "labels": False,
        "stream": True, "workers": workers}}).data)


def decode(spec: str, args) -> None:
    import torch

    t0 = time.perf_counter()
    loader = dataset(spec, 0).loader(args.batch, seed=0)
    opened = time.perf_counter() - t0
    out = torch.empty(args.batch, 3, 128, 128, dtype=torch.uint8)
    times = []
    for k in range(5 + args.batches):
        c0 = time.process_time()
        loader.images(k, out=out)
        if k >= 5:
            times.append(time.process_time() - c0)
    times.sort()
    q = [times[int(f * (len(times) - 1))] * 1e3 for f in (0.1, 0.5, 0.9)]
    print(f"{spec}: CPU per {args.batch}-image batch median {q[1]:.2f} ms (p10 {q[0]:.2f}, "
          f"p90 {q[2]:.2f}; {args.batches} batches); listing the set took {opened:.2f} s; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)


def status(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon, RssFile of ``pid`` in GB (empty when it is gone)."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon", "RssFile"):
                    out[key] = int(value.split()[0]) * 1024 / 1e9
    except OSError:
        pass
    return out


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def epoch(spec: str, args) -> None:
    ds = dataset(spec, args.workers)
    loader = ds.loader(args.batch, seed=0)
    batches = math.ceil(len(ds) / args.batch)
    t0 = time.time()
    peak_main = peak_tree = 0.0
    for k in range(batches):
        next(loader)
        if k % 100 == 0 or k == batches - 1:
            me = status(os.getpid())
            kids = [status(c) for c in children(os.getpid())]
            tree = me["VmRSS"] + sum(c.get("VmRSS", 0.0) for c in kids)
            peak_main, peak_tree = max(peak_main, me["VmRSS"]), max(peak_tree, tree)
            if k % 1000 == 0 or k == batches - 1:
                print(f"batch {k}: RSS {me['VmRSS']:.3f} GB (file-backed {me['RssFile']:.3f}), "
                      f"workers {[round(c.get('VmRSS', 0.0), 3) for c in kids]} GB "
                      f"(file-backed {[round(c.get('RssFile', 0.0), 3) for c in kids]}), "
                      f"{time.time() - t0:.0f} s", flush=True)
    loader.close()
    print(f"{spec}: {batches} batches ({len(ds)} images) in {time.time() - t0:.0f} s with "
          f"{args.workers} worker(s); peak RSS {peak_main:.3f} GB, with workers "
          f"{peak_tree:.3f} GB (per-process RSS summed)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=("decode", "epoch"))
    ap.add_argument("specs", nargs="+", metavar="DATASET", help="e.g. zip:/tmp/set.zip")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=200, help="timed batches (decode)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers (epoch)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    for spec in args.specs:
        (decode if args.what == "decode" else epoch)(spec, args)


if __name__ == "__main__":
    main()
