"""gankit grid SOURCE --per-class 8 --out grid.png | gankit grid SOURCE --psi 1,0.7,0.5"""
from __future__ import annotations


NAME = "grid"
HELP = "comparison grids: one row per class (conditional models) or per truncation psi"
DESCRIPTION = ("Write a grid image. Conditional models: one row per class, the same latents "
               "in every row. With --psi (models with truncation): one row per psi value.")


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory, export folder or checkpoint file")
    p.add_argument("--per-class", type=int, default=8, help="images per class row (default 8)")
    p.add_argument("--seeds", help="seeds of the columns (default 0..per-class-1)")
    p.add_argument("--classes", help="classes to show, e.g. 0,3,7 (default all)")
    p.add_argument("--psi", help="truncation grid instead: one row per psi, e.g. 1,0.7,0.5,0 "
                                 "(--trunc sets one psi for a class grid)")
    p.add_argument("--class", dest="class_id", type=int,
                   help="class of a truncation grid (conditional models)")
    p.add_argument("--out", help="grid image (default: <source>/grid.png)")
    from gankit.commands.sample import add_generation_options

    add_generation_options(p)
    p.add_argument("--force", action="store_true", help="write a grid of more than 1024 images")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def parse_floats(text: str, what: str) -> list[float]:
    from gankit.errors import GankitError

    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise GankitError(f"{what} must be numbers separated by commas, got {text!r}") from None


def run(args) -> int:
    from gankit.commands.sample import check_grid_size, generation_options, output_path
    from gankit.errors import GankitError
    from gankit.sampling import load_generator
    from gankit.sampling.grids import class_grid, class_names, truncation_grid
    from gankit.utils.images import save_grid
    from gankit.utils.seeds import parse_seeds

    gen = load_generator(args.source, args.device)
    options = generation_options(args)
    out = output_path(args.source, args.out, "grid.png")
    if args.psi:
        psis = parse_floats(args.psi, "--psi")
        seeds = parse_seeds(args.seeds) if args.seeds else list(range(args.per_class))
        if "psi" in options:
            raise GankitError("--psi draws one row per psi value: drop --trunc / --option psi")
        check_grid_size(len(seeds) * len(psis), args.force)
        images, ncol = truncation_grid(gen, seeds, psis, class_id=args.class_id, **options)
        save_grid(images, out, nrow=ncol)
        print(f"wrote a truncation grid (rows psi={args.psi}, {ncol} seeds) to {out}")
        return 0
    classes = [int(c) for c in parse_floats(args.classes, "--classes")] if args.classes else None
    seeds = parse_seeds(args.seeds) if args.seeds else None
    n_classes = len(classes) if classes is not None else gen.info.num_classes
    check_grid_size(len(seeds or range(args.per_class)) * max(1, n_classes), args.force)
    images, ncol = class_grid(gen, args.per_class, seeds=seeds, classes=classes, **options)
    save_grid(images, out, nrow=ncol)
    names = class_names(gen)
    shown = classes if classes is not None else range(len(names))
    print(f"wrote a class grid to {out}: rows = {', '.join(names[c] for c in shown)}; "
          f"{ncol} per row")
    return 0
