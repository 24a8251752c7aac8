"""gankit mix SOURCE --rows 0-3 --cols 10-14 [--layers 4,8] --out mix.png"""
from __future__ import annotations


NAME = "mix"
HELP = "style-mixing grid for style-based generators (rows x columns of seeds)"


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory, export folder or checkpoint file")
    p.add_argument("--rows", default="0-3", help="seeds of the rows (give the coarse styles)")
    p.add_argument("--cols", default="10-14", help="seeds of the columns (give --layers)")
    p.add_argument("--layers", help="style inputs START,STOP taken from the column seed "
                                    "(default: the model's, the fine half)")
    p.add_argument("--out", help="grid image (default: <source>/mixing.png)")
    from gankit.commands.sample import add_generation_options

    add_generation_options(p)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def run(args) -> int:
    from gankit.commands.sample import generation_options, output_path
    from gankit.errors import GankitError
    from gankit.sampling import load_generator
    from gankit.sampling.grids import mixing_grid
    from gankit.utils.images import save_grid
    from gankit.utils.seeds import parse_seeds

    layers = None
    if args.layers:
        try:
            a, b = (int(v) for v in args.layers.split(","))
        except ValueError:
            raise GankitError(f"--layers must be START,STOP, e.g. 4,8; got {args.layers!r}") \
                from None
        layers = (a, b)
    gen = load_generator(args.source, args.device)
    images, ncol = mixing_grid(gen, parse_seeds(args.rows), parse_seeds(args.cols),
                               mix_layers=layers, **generation_options(args))
    out = output_path(args.source, args.out, "mixing.png")
    save_grid(images, out, nrow=ncol)
    print(f"wrote a style-mixing grid to {out} (first row: column sources, first column: "
          f"row sources)")
    return 0
