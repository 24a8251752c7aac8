"""Does StyleGAN style mixing take coarse structure from one seed and fine detail from the other?

Usage (from the repository root)::

    PYTHONPATH=src nice -n 10 python benchmarks/faces/mixing_check.py RUN [--pairs 1000]
        [--json benchmarks/faces/mixing_check-NAME.json]

``RUN`` is a run folder, export folder or checkpoint that ``gankit sample`` accepts. For
``--pairs`` (row seed, column seed) pairs -- rows 0..P-1, columns 100000..100000+P-1, psi 1,
constant noise -- it draws the row source ``R = G(z_row)``, the column source
``C = G(z_col)`` and, for every crossover ``k`` in 1..num_ws-1, two mixed images through the
model's own ``generate(z, mix_z=..., mix_layers=...)`` (what ``gankit mix --layers`` uses):

- **mix**: style inputs ``0..k-1`` (the coarse, low-resolution layers) from the row seed,
  ``k..num_ws-1`` (the fine layers) from the column seed -- the paper's mixing grid;
- **control**: the reverse, ``0..k-1`` from the column seed, ``k..`` from the row seed. If the
  descriptors below measure what the layers control, the verdicts must flip.

Each image is reduced to three descriptors (images in [-1, 1]):

- **coarse layout**: luma ``0.299 R + 0.587 G + 0.114 B`` averaged down to 8x8 (a heavy
  blur), minus its own mean (so global brightness/colour does not count) -- 64 numbers that
  say where light and dark regions sit: head position and size, pose, hair outline;
- **pattern**: the layout scaled to unit length, so that only the arrangement counts, not
  the contrast (which the last, fine AdaIN layers also set);
- **edges**: where the boundaries are, whichever side of them is darker (so a colour swap
  that turns dark hair on a light background into light hair on a dark one does not count):
  the luma's gradient magnitude at 16x16, pooled to 8x8, mean removed, unit length;
- **colour**: the mean of each RGB channel over the image (3 numbers);
- **texture**: the RMS of each channel's high-pass residual ``x - box3x3(x)`` (3 numbers), a
  position-free measure of fine detail and noise.

For each pair and descriptor it compares the Euclidean distances ``d(M, R)`` and
``d(M, C)``. Reported per crossover: the fraction of pairs whose mixed image is closer to the
row source in layout, pattern and edges, and closer to the column source in colour and in texture
(printed as such; the JSON stores every fraction as "closer to row"), plus the
mean distances, next to the mean ``d(R, C)`` between the two unrelated sources as the scale.
Nothing here is learned or tuned on the results.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

DESCRIPTORS = ("layout", "pattern", "edges", "colour", "texture")


def describe(x: torch.Tensor) -> dict[str, torch.Tensor]:
    """The three descriptors of images ``x`` (N x 3 x H x W in [-1, 1]), each N x d."""
    luma = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    layout = F.adaptive_avg_pool2d(luma, 8).flatten(1)
    layout = layout - layout.mean(1, keepdim=True)
    colour = x.mean((2, 3))
    blur = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    texture = (x - blur).pow(2).mean((2, 3)).sqrt()
    pattern = layout / layout.norm(dim=1, keepdim=True).clamp_min(1e-8)
    # where the boundaries are, whichever side is darker: gradient magnitude of the luma at
    # 16x16 (finer texture averaged away), pooled to 8x8, mean removed, unit length
    small = F.adaptive_avg_pool2d(luma, 16)
    gx, gy = small[..., :, 1:] - small[..., :, :-1], small[..., 1:, :] - small[..., :-1, :]
    grad = (F.pad(gx, (0, 1)).pow(2) + F.pad(gy, (0, 0, 0, 1)).pow(2)).sqrt()
    edges = F.adaptive_avg_pool2d(grad, 8).flatten(1)
    edges = edges - edges.mean(1, keepdim=True)
    edges = edges / edges.norm(dim=1, keepdim=True).clamp_min(1e-8)
    return {"layout": layout, "pattern": pattern, "edges": edges, "colour": colour,
            "texture": texture}


def dist(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (a[k] - b[k]).norm(dim=1) for k in DESCRIPTORS}


def verdicts(mixed: torch.Tensor, row: dict, col: dict) -> dict:
    """Fractions and mean distances of mixed images to the row and column sources'
    descriptors ``row`` and ``col``."""
    m = describe(mixed)
    to_row, to_col = dist(m, row), dist(m, col)
    out = {}
    for k in DESCRIPTORS:
        out[k] = {"frac_closer_to_row": float((to_row[k] < to_col[k]).float().mean()),
                  "mean_d_to_row": float(to_row[k].mean()),
                  "mean_d_to_col": float(to_col[k].mean())}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run", help="run folder, export folder or checkpoint")
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()

    from gankit.sampling import load_generator
    from gankit.sampling._common import generate_z

    torch.set_num_threads(1)
    t0 = time.process_time()
    gen = load_generator(args.run, "cpu")
    if "mix" not in gen.capabilities:
        sys.exit(f"{args.run}: model {gen.cfg.model.name!r} cannot mix styles")
    num_ws = gen.model.num_ws
    layer_res = [4 * 2 ** (i // 2) for i in range(num_ws)]
    row_seeds = list(range(args.pairs))
    col_seeds = list(range(100_000, 100_000 + args.pairs))
    zr, zc = gen.latents(row_seeds).cpu(), gen.latents(col_seeds).cpu()
    R, C = generate_z(gen, zr), generate_z(gen, zc)
    dr, dc = describe(R), describe(C)
    scale = {k: float(v.mean()) for k, v in dist(dr, dc).items()}
    rows = []
    for k in range(1, num_ws):
        mix = generate_z(gen, zr, mix_z=zc, mix_layers=(k, num_ws))     # coarse from row
        ctl = generate_z(gen, zc, mix_z=zr, mix_layers=(k, num_ws))     # coarse from column
        rows.append({"crossover": k,
                     "row_gives": f"layers 0..{k - 1} ({layer_res[0]}-{layer_res[k - 1]} px)",
                     "col_gives": f"layers {k}..{num_ws - 1} ({layer_res[k]}-"
                                  f"{layer_res[-1]} px)",
                     "mix": verdicts(mix, dr, dc), "control": verdicts(ctl, dr, dc)})
    result = {"source": str(args.run), "step": gen.step, "resolution": gen.info.resolution,
              "num_ws": num_ws, "layer_resolution": layer_res, "pairs": args.pairs,
              "row_seeds": f"0..{args.pairs - 1}",
              "col_seeds": f"100000..{100_000 + args.pairs - 1}",
              "psi": 1.0, "noise": "const", "mean_d_row_vs_col": scale, "crossovers": rows,
              "cpu_s": round(time.process_time() - t0, 1)}

    print(f"{args.run}: step {gen.step}, {gen.info.resolution}px, num_ws {num_ws}, "
          f"{args.pairs} pairs; mean d(R, C): " + ", ".join(f"{k} {v:.3f}"
                                                          for k, v in scale.items()))
    print("k  | mix: layout->row  pattern->row  edges->row  colour->col  texture->col | "
          "control: same")
    for r in rows:
        cells = []
        for part in ("mix", "control"):
            v = r[part]
            cells.append(f"{v['layout']['frac_closer_to_row']:.3f} "
                         f"({v['layout']['mean_d_to_row']:.2f}/{v['layout']['mean_d_to_col']:.2f})"
                         f"  {v['pattern']['frac_closer_to_row']:.3f} "
                         f"({v['pattern']['mean_d_to_row']:.2f}/"
                         f"{v['pattern']['mean_d_to_col']:.2f})"
                         f"  {v['edges']['frac_closer_to_row']:.3f} "
                         f"({v['edges']['mean_d_to_row']:.2f}/{v['edges']['mean_d_to_col']:.2f})"
                         f"  {1 - v['colour']['frac_closer_to_row']:.3f} "
                         f"({v['colour']['mean_d_to_row']:.3f}/{v['colour']['mean_d_to_col']:.3f})"
                         f"  {1 - v['texture']['frac_closer_to_row']:.3f} "
                         f"({v['texture']['mean_d_to_row']:.3f}/"
                         f"{v['texture']['mean_d_to_col']:.3f})")
        print(f"{r['crossover']:<2d} | " + " | ".join(cells))
    print("fractions; in brackets mean distance to row / to column source")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
