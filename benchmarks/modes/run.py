"""Mode-coverage benchmark on ring8 / grid25 through the real toolkit, one command each.

For every seed: ``gankit train PRESET train.seed=S`` (a subprocess, as a user would run it),
``gankit sample RUN --seeds 0-2499 --npz`` and the independent scorer ``score.py``. Prints one
line per seed and the mean +- std over seeds, and appends a JSON record to
``benchmarks/modes/results.jsonl``.

    python benchmarks/modes/run.py ring8-gan --seeds 0,1,2
    python benchmarks/modes/run.py grid25-gan --seeds 0,1,2 model.loss=hinge  # + overrides

CPU time is the training subprocess's user+system time (``resource.RUSAGE_CHILDREN``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from score import score  # noqa: E402


def child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def gankit(*args: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    subprocess.run([sys.executable, "-m", "gankit", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("preset")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--samples", type=int, default=2500)
    p.add_argument("--keep", help="keep the runs in this folder")
    p.add_argument("overrides", nargs="*", help="config overrides, e.g. train.steps=2000")
    a = p.parse_intermixed_args(argv)
    import yaml

    preset_file = ROOT / "src" / "gankit" / "configs" / f"{a.preset}.yaml"
    raw = yaml.safe_load(preset_file.read_text()) if preset_file.exists() else {}
    dataset = ([o.split("=", 1)[1] for o in a.overrides if o.startswith("data.dataset=")]
               or [raw.get("data", {}).get("dataset", "")])[-1]
    base = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="modes-"))
    rows = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        run = base / f"{a.preset}-s{seed}"
        c0, w0 = child_cpu(), time.time()
        gankit("train", a.preset, "--out", str(run), f"train.seed={seed}",
               "train.progress=false", *a.overrides)
        cpu, wall = child_cpu() - c0, time.time() - w0
        npz = run / "samples.npz"
        gankit("sample", str(run), "--seeds", f"0-{a.samples - 1}", "--npz", str(npz))
        import numpy as np

        s = score(np.load(npz)["samples"], dataset)
        s.update(seed=seed, train_cpu_s=round(cpu, 1), train_wall_s=round(wall, 1))
        resolved = yaml.safe_load((run / "config.yaml").read_text())
        rows.append(s)
        print(f"seed {seed}: {s['modes']}/{s['of']} modes, {s['hq_percent']:.1f}% HQ, "
              f"reverse KL {s['reverse_kl']:.4f}, mode width {s['mode_width']:.2f} "
              f"(spread {s['mode_spread']:.2f}, offset {s['mode_offset']:.2f}), "
              f"train CPU {cpu:.0f}s (wall {wall:.0f}s)",
              flush=True)
    mean = lambda k: statistics.mean(r[k] for r in rows)  # noqa: E731
    sd = lambda k: statistics.pstdev(r[k] for r in rows)  # noqa: E731
    summary = {"preset": a.preset, "dataset": dataset, "overrides": a.overrides,
               "seeds": [r["seed"] for r in rows], "modes": mean("modes"),
               "modes_std": sd("modes"), "hq_percent": mean("hq_percent"),
               "hq_std": sd("hq_percent"), "reverse_kl": mean("reverse_kl"),
               "reverse_kl_std": sd("reverse_kl"), "mode_width": mean("mode_width"),
               "mode_width_std": sd("mode_width"), "train_cpu_s": mean("train_cpu_s"),
               "runs": rows, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
               # the resolved model and train sections, so a record stays meaningful after the
               # preset changes
               "model": resolved["model"], "train": resolved["train"]}
    print(f"{a.preset} over {len(rows)} seeds: {summary['modes']:.2f} +- {summary['modes_std']:.2f}"
          f" modes, {summary['hq_percent']:.1f} +- {summary['hq_std']:.1f}% HQ, reverse KL "
          f"{summary['reverse_kl']:.4f} +- {summary['reverse_kl_std']:.4f}, mode width "
          f"{summary['mode_width']:.2f} +- {summary['mode_width_std']:.2f}, train CPU {summary['train_cpu_s']:.0f}s per run")
    with open(HERE / "results.jsonl", "a") as f:
        f.write(json.dumps(summary) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
