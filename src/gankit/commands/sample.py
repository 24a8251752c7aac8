"""gankit sample RUN_DIR_OR_EXPORT --seeds 0-63 [--out grid.png] [--npz samples.npz]"""
from __future__ import annotations

import math
from pathlib import Path

NAME = "sample"
HELP = "generate images from a trained generator for given seeds"


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory, export folder or checkpoint file")
    p.add_argument("--seeds", default="0-63", help="seeds, e.g. 0-63 or 1,5,9 (default 0-63)")
    p.add_argument("--out", help="grid image to write (default: <source>/samples.png)")
    p.add_argument("--npz", help="also write the samples to an npz (uint8 NHWC `images`, "
                                 "`labels` for conditional models, `samples` for point data)")
    p.add_argument("--class", dest="class_id", type=int,
                   help="class to generate (conditional models)")
    p.add_argument("--by-class", action="store_true",
                   help="conditional models: one row per class, the same seeds in every row")
    p.add_argument("--nrow", type=int, help="images per grid row")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="generation option the model supports (e.g. psi=0.7); repeatable")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def output_path(source: str, out: str | None, name: str) -> Path:
    """``out`` if given, else ``name`` inside the run/export folder (or beside a checkpoint)."""
    if out:
        return Path(out)
    src = Path(source)
    return (src if src.is_dir() else src.parent) / name


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


def run(args) -> int:
    import numpy as np

    import torch

    from gankit.data.base import to_uint8
    from gankit.errors import GankitError
    from gankit.sampling import load_generator
    from gankit.utils.images import save_grid
    from gankit.utils.seeds import parse_seeds

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
    x = gen.generate(seeds, labels, **parse_options(args.option))
    if gen.info.kind == "points":
        if args.npz:
            np.savez(args.npz, samples=x.numpy().astype(np.float32), seeds=np.array(seeds))
            print(f"wrote {len(seeds)} samples ({x.shape[1]}-d points) to {args.npz}")
        else:
            print("point data: use --npz FILE to write the samples")
        return 0
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
