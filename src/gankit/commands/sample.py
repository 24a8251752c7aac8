"""gankit sample SOURCE --seeds 0-63 [--out grid.png] [--outdir DIR] [--npz samples.npz]"""
from __future__ import annotations

import math
import os
from pathlib import Path

NAME = "sample"
HELP = "generate images from a trained generator for given seeds"
DESCRIPTION = """\
Generate images for the given seeds (the same seed always gives the same image).

  gankit sample runs/a --seeds 0-63                   # a grid: runs/a/samples.png
  gankit sample runs/a --outdir fakes/ --seeds 0-9999 # fakes/seed0000.png ... (for FID tools)
  gankit sample runs/a/export --seeds 0-15 --out out/ # out/samples.png
  gankit sample runs/style --trunc 0.7                # truncation (models that have it)

Defaults never write into an export folder (one you would ship): sampling RUN/export writes
into RUN, a standalone export folder into the current directory."""

# a grid above this many images (a 56 MB PNG for 100,000 MNIST digits) needs --force
MAX_GRID = 1024


def add_generation_options(p, option_help: str = "generation option the model supports "
                                                 "(e.g. psi=0.7); repeatable") -> None:
    """``--option KEY=VALUE`` (repeatable) and ``--trunc PSI`` (read by generation_options)."""
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help=option_help)
    p.add_argument("--trunc", type=float, metavar="PSI",
                   help="truncation psi for models that have it (stylegan): 1 = none, 0.7 is "
                        "typical; the same as --option psi=PSI")


def add_arguments(p) -> None:
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' lines
    p.add_argument("source", help="run directory, export folder or checkpoint file")
    p.add_argument("--seeds", default="0-63", help="seeds, e.g. 0-63 or 1,5,9 (default 0-63)")
    p.add_argument("--out", help="grid image to write (.png, .jpg, ...), or a folder to write "
                                 "samples.png into (default: <run>/samples.png)")
    p.add_argument("--outdir", help="write one PNG per seed into this folder: seed0000.png, "
                                    "seed0001.png, ... (no grid unless --out is also given)")
    p.add_argument("--npz", help="also write the samples to an npz (uint8 NHWC `images`, "
                                 "`labels` for conditional models, `samples` for point data)")
    p.add_argument("--class", dest="class_id", type=int,
                   help="class to generate (conditional models)")
    p.add_argument("--by-class", action="store_true",
                   help="conditional models: one row per class, the same seeds in every row")
    p.add_argument("--nrow", type=int, help="images per grid row")
    add_generation_options(p)
    p.add_argument("--force", action="store_true",
                   help=f"write a grid of more than {MAX_GRID} images")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def _is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() or (path / "checkpoints").is_dir()


def output_path(source: str, out: str | None, name: str) -> Path:
    """Where a command writes its image.

    ``out`` as given; ``out`` that is an existing folder, ends with ``/`` or has no file
    extension: ``name`` inside it (never an image file without an extension). No ``out``:
    ``name`` in the run folder (or beside a checkpoint), but never inside an export folder:
    RUN/export writes into RUN, a standalone export into the current folder.
    """
    from gankit.export.folder import is_export_folder

    if out:
        p = Path(out)
        if out.endswith(("/", os.sep)) or p.is_dir() or not p.suffix:
            return p / name
        return p
    src = Path(source)
    folder = src if src.is_dir() else src.parent
    if is_export_folder(folder):
        folder = folder.parent if _is_run_dir(folder.parent) else Path(".")
    return folder / name


def check_grid_size(n: int, force: bool, hint: str = "") -> None:
    """Refuse a grid of more than MAX_GRID images unless ``force``."""
    from gankit.errors import GankitError

    if n > MAX_GRID and not force:
        raise GankitError(f"a grid of {n:,} images is very large (more than {MAX_GRID}); "
                          f"{hint}pass --force to write it anyway")


def parse_options(items: list[str]) -> dict:
    from gankit.config import load_yaml
    from gankit.errors import GankitError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise GankitError(f"--option {item!r} must look like KEY=VALUE, e.g. psi=0.7")
        out[key.strip()] = load_yaml(value)
    return out


def generation_options(args) -> dict:
    """The ``--option`` items as a dict, with ``--trunc`` as ``psi``."""
    from gankit.errors import GankitError

    options = parse_options(getattr(args, "option", []) or [])
    trunc = getattr(args, "trunc", None)
    if trunc is not None:
        if "psi" in options and options["psi"] != trunc:
            raise GankitError(f"--trunc {trunc:g} and --option psi={options['psi']} disagree; "
                              f"give one of them")
        options["psi"] = trunc
    return options


def write_per_seed(gen, seeds: list[int], labels, outdir: Path, options: dict,
                   chunk: int = 64) -> int:
    """One PNG per seed (``seed0000.png``; ``seed0000-class3.png`` when a seed repeats with
    another class), generated and written ``chunk`` at a time. Returns the number written."""
    from gankit.utils.images import save_image

    outdir.mkdir(parents=True, exist_ok=True)
    repeated = len(set(seeds)) < len(seeds)
    for lo in range(0, len(seeds), chunk):
        part = seeds[lo:lo + chunk]
        lab = None if labels is None else labels[lo:lo + chunk]
        x = gen.generate(part, lab, **options)
        for i, (seed, img) in enumerate(zip(part, x)):
            name = f"seed{seed:04d}"
            if repeated and lab is not None:
                name += f"-class{int(lab[i])}"
            save_image(img, outdir / f"{name}.png")
    return len(seeds)


def run(args) -> int:
    import numpy as np

    import torch

    from gankit.data.base import to_uint8
    from gankit.errors import GankitError
    from gankit.sampling import load_generator
    from gankit.utils.images import save_grid
    from gankit.utils.seeds import parse_seeds

    options = generation_options(args)
    gen = load_generator(args.source, args.device)
    seeds = parse_seeds(args.seeds)
    if getattr(args, "by_class", False):
        if "conditional" not in gen.capabilities or args.class_id is not None:
            raise GankitError("--by-class needs a class-conditional model and no --class")
        # row k = class k: repeat the seed list once per class
        k = gen.info.num_classes
        args.nrow = args.nrow or len(seeds)
        labels = torch.arange(k).repeat_interleave(len(seeds))
        seeds = seeds * k
    else:
        labels = gen.labels_for(seeds, args.class_id)
    outdir = getattr(args, "outdir", None)
    want_grid = bool(args.out) or not (outdir or args.npz)
    if gen.info.kind != "points" and want_grid:  # before generating anything
        check_grid_size(len(seeds), args.force,
                        "use --outdir DIR for one PNG per seed, or fewer --seeds; ")
    if gen.info.kind == "points":
        if args.npz:
            x = gen.generate(seeds, labels, **options)
            np.savez(args.npz, samples=x.numpy().astype(np.float32), seeds=np.array(seeds))
            print(f"wrote {len(seeds)} samples ({x.shape[1]}-d points) to {args.npz}")
        else:
            print("point data: use --npz FILE to write the samples")
        return 0
    if outdir:
        n = write_per_seed(gen, seeds, labels, Path(outdir), options)
        print(f"wrote {n} images to {outdir}/ (seed{seeds[0]:04d}.png ...)")
        if not (want_grid or args.npz):
            return 0
    x = gen.generate(seeds, labels, **options)
    if want_grid:
        out = output_path(args.source, args.out, "samples.png")
        save_grid(x, out, nrow=args.nrow or max(1, int(math.sqrt(len(seeds)))))
        print(f"wrote a grid of {len(seeds)} images to {out}")
    if args.npz:
        arrays = {"images": to_uint8(x).permute(0, 2, 3, 1).numpy(), "seeds": np.array(seeds)}
        if labels is not None:
            arrays["labels"] = labels.cpu().numpy()
        np.savez(args.npz, **arrays)
        print(f"wrote {len(seeds)} images to {args.npz}")
    return 0
