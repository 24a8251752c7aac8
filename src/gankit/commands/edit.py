"""gankit edit SOURCE --seeds 0-7 --direction dir.npy --strengths -3,-1.5,0,1.5,3 --out edit.png"""
from __future__ import annotations


NAME = "edit"
HELP = "walk along a latent direction (rows: seeds or latents, columns: strengths)"
DESCRIPTION = ("Move latents along a saved direction (`gankit direction` makes one) and write "
               "the grid: one row per seed (or per latent of --latents, e.g. from "
               "`gankit project --save-latent`), one column per strength.")


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory, export folder or checkpoint file")
    p.add_argument("--direction", required=True, help=".npy direction vector")
    p.add_argument("--seeds", default="0-7", help="seeds of the rows (default 0-7)")
    p.add_argument("--latents", help=".npy latents (N x z_dim) instead of --seeds")
    p.add_argument("--strengths", default="-3,-1.5,0,1.5,3",
                   help="steps along the unit direction, in prior standard deviations")
    p.add_argument("--class", dest="class_id", type=int, help="class (conditional models)")
    p.add_argument("--out", help="grid image (default: <source>/edit.png)")
    from gankit.commands.sample import add_generation_options

    add_generation_options(p)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    # let `--strengths -3,-1.5,0` through: argparse takes "-3,-1.5" for an option because only
    # single negative numbers count as values (`--strengths=-3,...` works regardless)
    if hasattr(p, "_negative_number_matcher"):
        import re

        p._negative_number_matcher = re.compile(r"^-\d*\.?\d+([eE][-+]?\d+)?"
                                                r"(,-?\d*\.?\d+([eE][-+]?\d+)?)*$")


def run(args) -> int:
    import numpy as np
    import torch

    from gankit.commands.grid import parse_floats
    from gankit.commands.sample import generation_options, output_path
    from gankit.errors import GankitError
    from gankit.sampling import load_generator
    from gankit.sampling.editing import load_direction, walk, walk_latents
    from gankit.utils.images import save_grid
    from gankit.utils.seeds import parse_seeds

    gen = load_generator(args.source, args.device)
    direction = load_direction(args.direction, gen.model.latent_dim or None)
    strengths = parse_floats(args.strengths, "--strengths")
    options = generation_options(args)
    if args.latents:
        try:
            z = torch.from_numpy(np.load(args.latents, allow_pickle=False)).float()
        except (OSError, ValueError) as e:
            raise GankitError(f"cannot read latents {args.latents} ({e})") from None
        images, ncol = walk_latents(gen, z, direction, strengths, class_id=args.class_id,
                                    **options)
        rows = f"{images.shape[0] // ncol} latent(s) from {args.latents}"
    else:
        seeds = parse_seeds(args.seeds)
        images, ncol = walk(gen, seeds, direction, strengths, class_id=args.class_id, **options)
        rows = f"seeds {args.seeds}"
    out = output_path(args.source, args.out, "edit.png")
    save_grid(images, out, nrow=ncol)
    print(f"wrote an edit grid to {out}: rows = {rows}; columns = strengths "
          f"{', '.join(f'{s:g}' for s in strengths)}")
    return 0
