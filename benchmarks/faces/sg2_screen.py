"""Score a StyleGAN(2) faces run in the quality suite's substitute space, with options the
suite's ``--score`` has not: the truncation trick (``--psi``) and post-hoc averaging of the
EMA generators of several checkpoints (``--avg``, a cheap stand-in for a longer EMA), and
sampling with the per-pixel noise off (``--noise off``).

    python benchmarks/faces/sg2_screen.py RUN/export --psi 0.7 --num 10000 \
        --grid /tmp/faces/psi07.png
    python benchmarks/faces/sg2_screen.py RUN/checkpoints/ckpt-00{3870,4085}.pt \
        RUN/checkpoints/latest.pt --avg --num 5000

Seeds 0..num-1 with constant noise, as ``run.py --score``; prints one JSON line and, with
``--grid``, saves seeds 0-63 as an 8x8 grid. One thread.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def _quality():
    spec = importlib.util.spec_from_file_location("quality_run", HERE.parent / "quality" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load(sources: list[str], avg: bool):
    from gankit.sampling import load_generator

    gen = load_generator(sources[0], "cpu")
    if avg and len(sources) > 1:  # uniform average of the generators' floating-point state
        states = [load_generator(s, "cpu").G.state_dict() for s in sources]
        mean = {k: (torch.stack([s[k].float() for s in states]).mean(0).to(v.dtype)
                    if v.is_floating_point() else v) for k, v in states[0].items()}
        gen.G.load_state_dict(mean)
    return gen


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sources", nargs="+", help="export folders, run folders or checkpoints")
    ap.add_argument("--avg", action="store_true", help="average the sources' generators")
    ap.add_argument("--psi", type=float, default=1.0, help="truncation psi (1 = off)")
    ap.add_argument("--noise", default="const", choices=("const", "off", "random"),
                    help="per-pixel noise at sampling (const = the suite's)")
    ap.add_argument("--num", type=int, default=5000, help="samples scored (seeds 0..num-1)")
    ap.add_argument("--grid", help="save seeds 0-63 as an 8x8 grid here")
    a = ap.parse_args(argv)
    if len(a.sources) > 1 and not a.avg:
        raise SystemExit("several sources need --avg")
    torch.set_num_threads(1)
    from gankit.data.base import to_uint8
    from gankit.utils.images import save_grid

    gen = load(a.sources, a.avg)
    seeds = list(range(a.num))
    imgs = to_uint8(gen.generate(seeds, batch_size=500, psi=a.psi, noise=a.noise))
    if a.grid:
        save_grid(imgs[:64], Path(a.grid), nrow=8)
    res = _quality().Space("faces").score(imgs, None)
    print(json.dumps({"sources": a.sources, "avg": a.avg, "psi": a.psi, "noise": a.noise,
                      **res}), flush=True)


if __name__ == "__main__":
    main()
