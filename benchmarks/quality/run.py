"""The quality suite: gankit's image presets at their default length against the plain course
recipe given the same CPU seconds, and against real data.

For each preset: train it at its default length on one thread (``gankit train PRESET
train.threads=1``, checkpoints every 5% of the run kept), recording the child process's CPU
seconds; train the course DCGAN of ``reference.py`` (no gankit code) for the same CPU seconds;
sample 10,000 images of each from fixed seeds (gankit: seeds 0..9999 with ``gankit sample``'s
loader and the EMA generator where kept; reference: ``torch.Generator().manual_seed(i)``);
score them in the feature space that fits the data:

* digits / clothes: gankit's MNIST or Fashion-MNIST classifier (128-d features; ``gankit
  evaluate train-feature-net NAME``), reference set = the 60,000 training images;
* faces: the substitute space of ``benchmarks/faces`` (a fixed random conv net, BN statistics
  set on the 5,000 real faces, 896-d; not Inception), reference set = the 5,000 faces.

Numbers: classifier FID, KID (x 1e3; 100 subsets of 1,000, cubic kernel), precision/recall
(k = 3, 10,000 vs 10,000), class-histogram KL to uniform and mean max-softmax confidence
(classifier spaces), and for ``mnist-cgan`` the share classified as the requested class. The
real-data row scores the test split (10,000 images; faces: 2,500 held-out vs 2,500) the same way.
Time to quality: the CPU seconds gankit needs to reach the reference's final FID (both on 5,000
samples), read off the checkpoints (each checkpoint's CPU seconds come from ``cpu_s`` in
stats.jsonl plus the run's set-up and tear-down CPU), divided by the reference's CPU seconds.

    GANKIT_DATA=../shared/data python benchmarks/quality/run.py            # every preset
    GANKIT_DATA=../shared/data python benchmarks/quality/run.py mnist-dcgan --jobs 1
    python benchmarks/quality/run.py --table      # RESULTS table from the saved results

Work files go to ``benchmarks/quality/_work/`` (ignored by git); each preset's results to
``results/PRESET.json`` and its grids to ``grids/`` beside this file.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
WORK = HERE / "_work"
RESULTS = HERE / "results"
GRIDS = HERE / "grids"

# preset -> (feature space, reference recipe data)
PRESETS = {
    "mnist-gan": ("mnist", "mnist"),
    "mnist-dcgan": ("mnist", "mnist"),
    "fashion-mnist-dcgan": ("fashion-mnist", "fashion-mnist"),
    "mnist-cgan": ("mnist", "mnist"),
    "faces-dcgan": ("faces", "celeba"),
    "faces-stylegan": ("faces", "celeba"),
    "faces-stylegan2": ("faces", "celeba"),
}
NUM = 10_000


def env() -> dict[str, str]:
    e = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    e["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), e.get("PYTHONPATH")) if p)
    return e


def run_child(argv: list[str], log: Path) -> float:
    """Run ``argv``; return its CPU seconds (user + system, all threads) from wait4."""
    with open(log, "w") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env())
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}); see {log}")
    return usage.ru_utime + usage.ru_stime


def _load_module(path: Path, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------- feature spaces
class Space:
    """Features of uint8 N x C x H x W images, the reference set, and classifier logits."""

    def __init__(self, name: str, num_ref: int = 0):
        self.name = name
        if name == "faces":
            faces = _load_module(HERE.parent / "faces" / "run.py", "faces_run")
            real = faces.load_faces(faces.data_root())
            self.net = faces.RandomFeatures()
            self.net.calibrate(real)
            self.real_train, self.real_test = real[2500:], real[:2500]
            self.protocol = ("faces substitute space: random conv net (seed 0), BN statistics "
                             "set on the 5,000 faces, 896-d (not Inception); reference = faces "
                             "2501-5000")
        else:
            from gankit.config import DataConfig
            from gankit.data import load_dataset
            from gankit.metrics.mnist_net import MNISTFeatures

            self.net = MNISTFeatures(name=name)
            sets = [load_dataset(DataConfig(dataset=name, split=s, channels=1)).images
                    for s in ("train", "test")]
            self.real_train, self.real_test = sets
            if num_ref:  # a smaller reference set (tests)
                self.real_train = self.real_train[:num_ref]
            acc = self.net.meta.get("test_accuracy", float("nan"))
            self.protocol = (f"{name} space: gankit {name} classifier (test acc {acc:.4f}), "
                             f"128-d; reference = the 60,000 training images")
        from gankit.metrics.scores import feature_stats

        self.ref = self.features(self.real_train)
        self.ref_stats = feature_stats(self.ref["pool"])

    def features(self, images: torch.Tensor) -> dict[str, np.ndarray]:
        pools, logits = [], []
        for lo in range(0, len(images), 500):
            x = images[lo:lo + 500]
            if self.name == "faces":
                pools.append(self.net.features(x))
            else:
                out = self.net(x)
                pools.append(out["pool"].double().numpy())
                logits.append(out["logits"].double().numpy())
        return {"pool": np.concatenate(pools),
                "logits": np.concatenate(logits) if logits else None}

    def score(self, images: torch.Tensor, labels: torch.Tensor | None = None,
              full: bool = True) -> dict:
        from gankit.metrics.mnist_net import class_coverage
        from gankit.metrics.scores import (feature_stats, frechet_distance,
                                           kernel_inception_distance, precision_recall)

        f = self.features(images)
        mu, sigma = feature_stats(f["pool"])
        out = {"fid": frechet_distance(mu, sigma, *self.ref_stats), "num": len(images)}
        if not full:
            return out
        kid, kid_std, _ = kernel_inception_distance(f["pool"], self.ref["pool"], 100, 1000)
        out["kid_x1e3"], out["kid_std_x1e3"] = kid * 1e3, kid_std * 1e3
        n = min(len(images), 10_000)
        rng = np.random.default_rng(0)
        ref_pr = self.ref["pool"][rng.choice(len(self.ref["pool"]), min(n, len(self.ref["pool"])),
                                             replace=False)]
        out["precision"], out["recall"] = precision_recall(ref_pr, f["pool"][:n], 3)
        if f["logits"] is not None:
            out.update(class_coverage(f["logits"], 10))
            pred = torch.from_numpy(f["logits"]).argmax(1)
            out["class_histogram"] = torch.bincount(pred, minlength=10).tolist()
            if labels is not None:
                out["requested_class_share"] = float((pred == labels.cpu()).float().mean())
        return out


# --------------------------------------------------------------------------- one preset
def gankit_samples(source: Path, num: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    from gankit.data.base import to_uint8
    from gankit.sampling import load_generator

    gen = load_generator(source, "cpu")
    seeds = list(range(num))
    labels = gen.labels_for(seeds)
    return to_uint8(gen.generate(seeds, batch_size=500)), labels


def cpu_at_steps(run: Path, total_cpu: float):
    """CPU seconds at any step: the loop's ``cpu_s`` (logged every ``log_every`` steps,
    linear in between) plus the run's other CPU (start-up, data loading, export)."""
    recs = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    recs = [r for r in recs if "cpu_s" in r]
    overhead = total_cpu - recs[-1]["cpu_s"]
    steps = np.array([0] + [r["step"] for r in recs], float)
    cpus = np.array([0.0] + [r["cpu_s"] for r in recs])
    return lambda step: float(np.interp(step, steps, cpus)) + overhead


def run_preset(preset: str, num: int, retrain: bool) -> dict:
    from gankit.config import load_config

    space_name, ref_data = PRESETS[preset]
    work = WORK / preset
    work.mkdir(parents=True, exist_ok=True)
    cfg = load_config(preset)
    steps = cfg.train.steps
    every = max(1, steps // 20)
    run = work / "gankit"
    meta_path = work / "train.json"
    if retrain or not meta_path.exists():
        import shutil

        shutil.rmtree(run, ignore_errors=True)
        cpu = run_child([sys.executable, "-m", "gankit", "train", preset, "--out", str(run),
                         "train.threads=1", f"train.checkpoint_every={every}",
                         "train.keep_checkpoints=0", "train.progress=false"], work / "train.log")
        meta_path.write_text(json.dumps({"cpu_seconds": cpu, "steps": steps}))
    cpu = json.loads(meta_path.read_text())["cpu_seconds"]
    ref_ckpt = work / "reference.pt"
    if retrain or not ref_ckpt.exists():
        run_child([sys.executable, str(HERE / "reference.py"), "train", "--data", ref_data,
                   "--cpu-seconds", f"{cpu:.1f}", "--out", str(ref_ckpt)],
                  work / "reference.log")
    ref_info = torch.load(ref_ckpt, weights_only=True)["info"]

    torch.set_num_threads(1)
    space = Space(space_name)
    fake, labels = gankit_samples(run, num)
    row = {"preset": preset, "steps": steps, "cpu_seconds": round(cpu, 1),
           "gankit": space.score(fake, labels)}
    ref_imgs = _load_module(HERE / "reference.py", "quality_reference").sample(ref_ckpt, num)
    row["reference"] = {**space.score(ref_imgs), "steps": ref_info["steps"],
                        "cpu_seconds": ref_info["cpu_seconds"]}
    row["real"] = space.score(space.real_test[:num])
    row["real"]["what"] = ("test split" if space_name != "faces" else "faces 1-2500")

    # time to quality: the first checkpoint whose FID is at most the reference's final FID,
    # both on the first `curve_num` samples (FID's bias depends on the count)
    at = cpu_at_steps(run, cpu)
    curve_num = min(num, 5000)
    target = space.score(ref_imgs[:curve_num], full=False)["fid"]
    curve = []
    for ck in sorted((run / "checkpoints").glob("ckpt-*.pt")):
        step = int(ck.stem.split("-")[1])
        imgs, _ = gankit_samples(ck, curve_num)
        curve.append({"step": step, "cpu_seconds": round(at(step), 1),
                      "fid": space.score(imgs, full=False)["fid"]})
        if curve[-1]["fid"] <= target:
            break
    row["curve"] = curve
    row["curve_target"] = {"fid": target, "num": curve_num}
    hit = next((c for c in curve if c["fid"] <= target), None)
    row["time_to_reference_fid"] = None if hit is None else {
        **hit, "ratio": round(hit["cpu_seconds"] / ref_info["cpu_seconds"], 3)}
    row["fid_ratio_vs_reference"] = row["gankit"]["fid"] / row["reference"]["fid"]
    row["protocol"] = (f"{space.protocol}; {num} samples from fixed seeds 0..{num - 1}; "
                       f"one thread; CPU seconds of the training process (os.wait4)")
    row["machine"] = {"cpu": platform.processor() or platform.machine(),
                      "torch": torch.__version__, "python": platform.python_version()}
    from gankit.utils.images import save_grid

    GRIDS.mkdir(exist_ok=True)
    for name, imgs in (("gankit", fake), ("reference", ref_imgs)):
        save_grid(imgs[:64], GRIDS / f"{preset}-{name}.png", nrow=8)
    save_grid(space.real_test[:64], GRIDS / f"{space_name}-real.png", nrow=8)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{preset}.json").write_text(json.dumps(row, indent=1) + "\n")
    return row


# --------------------------------------------------------------------------- table
def table() -> str:
    lines = ["| preset | who | CPU s | steps | FID | KID x1e3 | precision | recall | class KL | "
             "confidence | FID / reference | time to ref FID |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]

    def num(v, fmt="{:.3f}"):
        return "-" if v is None else fmt.format(v)

    for preset in PRESETS:
        p = RESULTS / f"{preset}.json"
        if not p.exists():
            continue
        r = json.loads(p.read_text())
        ttq = r["time_to_reference_fid"]
        ttq_s = ("not reached" if ttq is None
                 else f"{ttq['cpu_seconds']:.0f} s ({ttq['ratio']:.2f}x)")
        for who in ("gankit", "reference", "real"):
            s = r[who]
            cpu = r["cpu_seconds"] if who == "gankit" else s.get("cpu_seconds")
            steps = r["steps"] if who == "gankit" else s.get("steps")
            extra = s.get("requested_class_share")
            conf = num(s.get("mean_confidence"))
            if extra is not None:
                conf += f" (class as asked {extra:.4f})"
            lines.append(
                f"| {preset if who == 'gankit' else ''} | {who if who != 'real' else s['what']} "
                f"| {num(cpu, '{:.0f}')} | {num(steps, '{}')} | {num(s['fid'], '{:.3f}')} "
                f"| {num(s.get('kid_x1e3'), '{:.3f}')} | {num(s.get('precision'))} "
                f"| {num(s.get('recall'))} | {num(s.get('kl_to_uniform'), '{:.4f}')} | {conf} "
                f"| {num(r['fid_ratio_vs_reference'], '{:.3f}') if who == 'gankit' else ''} "
                f"| {ttq_s if who == 'gankit' else ''} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("presets", nargs="*", default=list(PRESETS))
    ap.add_argument("--num", type=int, default=NUM, help="samples per row (default 10,000)")
    ap.add_argument("--jobs", type=int, default=2, help="presets run at once (one thread each)")
    ap.add_argument("--retrain", action="store_true",
                    help="train again even where _work/ holds a finished run")
    ap.add_argument("--table", action="store_true", help="print the table of saved results")
    ap.add_argument("--score", metavar="RUN", help="score one run, checkpoint or export folder "
                    "(gankit samples) in --space and print the numbers")
    ap.add_argument("--space", choices=("mnist", "fashion-mnist", "faces"), default="mnist")
    a = ap.parse_args(argv)
    if a.table:
        print(table())
        return
    if a.score:
        torch.set_num_threads(1)
        imgs, labels = gankit_samples(Path(a.score), a.num)
        res = Space(a.space).score(imgs, labels)
        print(json.dumps({"source": a.score, "space": a.space, **res}))
        return
    bad = [p for p in a.presets if p not in PRESETS]
    if bad:
        raise SystemExit(f"not in the suite: {', '.join(bad)}; choose from {', '.join(PRESETS)}")
    if not os.environ.get("GANKIT_DATA"):
        raise SystemExit("set GANKIT_DATA to the shared data folder (e.g. ../shared/data)")
    if len(a.presets) > 1 and a.jobs > 1:  # one child per preset, a.jobs at a time
        pending, running = list(a.presets), []
        while pending or running:
            while pending and len(running) < a.jobs:
                p = pending.pop(0)
                cmd = [sys.executable, __file__, p, "--num", str(a.num)] + \
                      (["--retrain"] if a.retrain else [])
                running.append((p, subprocess.Popen(cmd, env=env())))
            time.sleep(2)
            for p, proc in list(running):
                if proc.poll() is not None:
                    running.remove((p, proc))
                    print(f"{p}: {'done' if proc.returncode == 0 else 'FAILED'}", flush=True)
        print(table())
        return
    for p in a.presets:
        t0 = time.perf_counter()
        row = run_preset(p, a.num, a.retrain)
        print(json.dumps({k: row[k] for k in ("preset", "cpu_seconds", "gankit", "reference",
                                               "time_to_reference_fid")}, indent=1), flush=True)
        print(f"{p}: {time.perf_counter() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
