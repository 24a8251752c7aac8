"""The GPU check: one short run that records what gankit does on a lent GPU.

    bash benchmarks/gpu/check.sh             # on a GPU: about 5-8 minutes, writes OUT/gpu_check.{json,md}
    bash benchmarks/gpu/check.sh --dry-run   # the same steps on the CPU at toy sizes (CI)

Parts, each timed and recorded even when another fails:

1. ``pytest -m cuda``: fp16 with a gradient scaler, bf16 autocast, the deferred non-finite
   check, exact resume and data on the device (``tests/train/test_cuda.py``);
2. training images/s of the real trainer step (``Trainer._train_step``) for dcgan 64x64 and
   the faces StyleGAN at 64x64, at a few batch sizes, ``train.amp=auto``, with peak GPU memory
   and the utilisation nvidia-smi reports during the timed steps; dcgan also with
   ``train.compile=true``;
3. FID-10k time: 10,000 + 10,000 images through the FID Inception network (randomly
   initialised weights in the pytorch-fid layout: the real weights are not available offline;
   the weights do not change the work).

Results go to ``OUT/gpu_check.json`` and ``OUT/gpu_check.md`` (``OUT`` = ``$OUT`` on the device
machine, else ``benchmarks/gpu/_out``). Copy the markdown into ``benchmarks/gpu/RESULTS.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Utilisation:
    """Samples `nvidia-smi` GPU utilisation every 0.2 s while active (empty without it)."""

    def __init__(self):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        def loop():
            while not self._stop.is_set():
                try:
                    out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu",
                                          "--format=csv,noheader,nounits"],
                                         capture_output=True, text=True, timeout=2)
                    self.samples.append(float(out.stdout.split()[0]))
                except (OSError, ValueError, IndexError, subprocess.SubprocessError):
                    return
                self._stop.wait(0.2)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=3)

    @property
    def mean(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def run_tests(dry: bool) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p",
                           "no:cacheprovider", str(ROOT / "tests" / "train" / "test_cuda.py")],
                          capture_output=True, text=True, cwd=ROOT)
    tail = proc.stdout.strip().splitlines()[-1:] or [""]
    return {"returncode": proc.returncode, "summary": tail[0],
            "seconds": round(time.perf_counter() - t0, 1),
            "ok": proc.returncode == 0 or (dry and "skipped" in tail[0])}


def train_speed(model: str, batch: int, device: torch.device, steps: int, warmup: int,
                resolution: int, compile_: bool = False) -> dict:
    from gankit.config import load_config
    from gankit.train.trainer import Trainer

    preset = {"dcgan": "faces-dcgan", "stylegan": "faces-stylegan"}[model]
    over = [f"data.dataset=synthetic:{max(256, batch * 2)}", f"data.resolution={resolution}",
            "data.channels=3", f"train.batch_size={batch}", f"train.device={device.type}",
            "train.progress=false", "train.sample_every=0", "train.checkpoint_every=0",
            f"train.compile={'true' if compile_ else 'false'}"]
    if model == "dcgan":
        over += ["model.ngf=64", "model.ndf=64"]
    cfg = load_config(preset, over)
    with tempfile.TemporaryDirectory() as tmp:
        tr = Trainer(cfg, Path(tmp) / "run")
        try:
            window: dict = {}
            for _ in range(warmup):
                tr._train_step(window, False)
            _sync(device)
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            with _Utilisation() as util:
                t0 = time.perf_counter()
                for _ in range(steps):
                    tr._train_step(window, False)
                _sync(device)
                dt = time.perf_counter() - t0
        finally:  # the run's log handler and folder lock go with the folder
            tr._close_log()
        amp = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[tr.amp_dtype]
        return {"model": model, "batch": batch, "resolution": resolution, "compile": compile_,
                "precision": amp, "steps": steps, "img_per_s": round(steps * batch / dt, 1),
                "peak_memory_mib": (round(torch.cuda.max_memory_allocated(device) / 2**20)
                                    if device.type == "cuda" else None),
                "gpu_util_percent": util.mean}


def fid_time(device: torch.device, num: int) -> dict:
    from gankit.metrics.features import InceptionFeatures, extract
    from gankit.metrics.inception import FIDInceptionV3
    from gankit.metrics.scores import feature_stats, frechet_distance

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "pt_inception-random.pth"
        torch.manual_seed(0)
        torch.save(FIDInceptionV3().state_dict(), weights)
        net = InceptionFeatures(str(weights), device=device, download=False)
        g = torch.Generator().manual_seed(0)

        def batches():
            while True:
                yield torch.randint(0, 256, (50, 3, 64, 64), dtype=torch.uint8, generator=g)

        _sync(device)
        t0 = time.perf_counter()
        a = extract(net, batches(), num, progress=False)
        b = extract(net, batches(), num, progress=False)
        fid = frechet_distance(*feature_stats(a["pool"]), *feature_stats(b["pool"]))
        _sync(device)
        return {"images": 2 * num, "seconds": round(time.perf_counter() - t0, 1),
                "fid_random_weights": float(fid)}


def _part(results: dict, name: str, fn) -> None:
    t0 = time.perf_counter()
    try:
        results[name] = fn()
    except Exception as e:  # noqa: BLE001 - one failing part must not hide the others
        results[name] = {"error": f"{type(e).__name__}: {e}",
                         "traceback": traceback.format_exc()[-2000:]}
    print(f"[{time.perf_counter() - t0:6.1f} s] {name}", flush=True)


def markdown(r: dict) -> str:
    lines = [f"# GPU check ({r['when']})", "",
             f"Device: {r['device']}; torch {r['torch']}; dry run: {r['dry_run']}; "
             f"total {r['seconds']} s. Command: `bash benchmarks/gpu/check.sh"
             f"{' --dry-run' if r['dry_run'] else ''}`.", "",
             f"CUDA tests (`pytest -m cuda`): {r['tests'].get('summary', r['tests'])}", "",
             "| model | batch | res | compile | precision | img/s | peak MiB | GPU util % |",
             "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: |"]
    for row in r["speed"]:
        if "error" in row:
            lines.append(f"| {row.get('model', '?')} | {row.get('batch', '?')} | | | | "
                         f"error: {row['error'][:80]} | | |")
            continue
        util = "-" if row["gpu_util_percent"] is None else f"{row['gpu_util_percent']:.0f}"
        mem = "-" if row["peak_memory_mib"] is None else str(row["peak_memory_mib"])
        lines.append(f"| {row['model']} | {row['batch']} | {row['resolution']} | "
                     f"{row['compile']} | {row['precision']} | {row['img_per_s']} | {mem} | "
                     f"{util} |")
    f = r["fid"]
    lines += ["", f"FID with the Inception network: {f.get('images', '?')} images in "
                  f"{f.get('seconds', '?')} s" + (f" (error: {f['error']})" if "error" in f else "")]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU, toy sizes (for CI)")
    ap.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "benchmarks/gpu/_out"))
    a = ap.parse_args(argv)
    dry = a.dry_run
    if not dry and not torch.cuda.is_available():
        print("no CUDA device: run with --dry-run on a CPU", file=sys.stderr)
        return 2
    device = torch.device("cpu" if dry else "cuda")
    t0 = time.perf_counter()
    r: dict = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "dry_run": dry,
               "device": (torch.cuda.get_device_name(0) if not dry else
                          f"CPU ({platform.processor() or platform.machine()})"),
               "torch": torch.__version__, "speed": []}
    _part(r, "tests", lambda: run_tests(dry))
    if dry:
        plan = [("dcgan", 4, False), ("stylegan", 4, False)]
        steps, warmup, res, fid_n = 2, 1, 32, 10
    else:
        plan = [("dcgan", 64, False), ("dcgan", 256, False), ("dcgan", 256, True),
                ("stylegan", 32, False), ("stylegan", 128, False)]
        steps, warmup, res, fid_n = 30, 5, 64, 10_000
    for model, batch, comp in plan:
        holder: dict = {}
        _part(holder, f"speed {model} batch {batch}{' compile' if comp else ''}",
              lambda m=model, b=batch, c=comp: train_speed(m, b, device, steps, warmup, res, c))
        row = next(iter(holder.values()))
        r["speed"].append({"model": model, "batch": batch, **row})
    _part(r, "fid", lambda: fid_time(device, fid_n))
    r["seconds"] = round(time.perf_counter() - t0, 1)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(r, indent=1) + "\n")
    (out / "gpu_check.md").write_text(markdown(r))
    print(markdown(r))
    failed = [k for k in ("tests", "fid") if "error" in r[k]] + \
        [f"speed {x['model']} {x['batch']}" for x in r["speed"] if "error" in x]
    if not r["tests"].get("ok", False):
        failed.append("tests")
    if failed:
        print(f"failed parts: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
