"""Sampling throughput of an exported generator: PyTorch vs ONNX Runtime, side by side.

    python benchmarks/speed/sampling.py RUN_DIR_OR_EXPORT --num 2048 --batch 64 --reps 5

Both run the same generator on the same latents (the ONNX graph is written by gankit's own
exporter and checked against PyTorch first). PyTorch runs ``spec.wrapper`` (exactly what was
exported) under inference_mode; ONNX Runtime runs one session with the same thread count.
Segments alternate A/B; the median images/s of each is reported with the ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from gankit.export.onnx import export_onnx, onnx_spec, verify_onnx  # noqa: E402
from gankit.sampling import load_generator  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("--num", type=int, default=2048, help="images per timed segment")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args()
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    gen = load_generator(args.source, "cpu")
    spec = onnx_spec(gen)
    spec.wrapper.eval()
    inputs = spec.example(gen, args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(gen, Path(tmp) / "gen.onnx")
        max_diff = verify_onnx(gen, path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        feeds = {k: inputs[k].numpy() for k in spec.inputs}
        batches = max(1, args.num // args.batch)

        def run_torch():
            with torch.inference_mode():
                for _ in range(batches):
                    spec.wrapper(*(inputs[k] for k in spec.inputs))

        def run_ort():
            for _ in range(batches):
                sess.run(None, feeds)

        run_torch(), run_ort()  # warm-up
        results = {"pytorch": [], "onnxruntime": []}
        for _ in range(args.reps):
            for name, fn in (("pytorch", run_torch), ("onnxruntime", run_ort)):
                t0 = time.perf_counter()
                fn()
                results[name].append(batches * args.batch / (time.perf_counter() - t0))
    med = {k: statistics.median(v) for k, v in results.items()}
    out = {"source": args.source, "model": gen.cfg.model.name, "batch": args.batch,
           "images_per_segment": batches * args.batch, "reps": args.reps,
           "threads": args.threads, "onnx_max_abs_diff": max_diff,
           "img_per_s_median": med, "all": results,
           "ratio_onnxruntime_over_pytorch": med["onnxruntime"] / med["pytorch"],
           "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__},
           "loadavg_1m": os.getloadavg()[0]}
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
