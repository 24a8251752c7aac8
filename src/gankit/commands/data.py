"""``gankit data info NAME`` and ``gankit data download NAME``."""
from __future__ import annotations

import argparse

NAME = "data"
HELP = "inspect or download datasets"
DESCRIPTION = ("Inspect a dataset (count, shape, classes, where its files were found) or "
               "download a built-in one into the user cache.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    info = sub.add_parser("info", help="count, shape, classes and location of a dataset",
                          description="Load a dataset as training would and describe it. "
                          "NAME is a built-in name (mnist, fashion-mnist, cifar10, celeba), "
                          "folder:PATH or npz:PATH.")
    info.add_argument("name", metavar="NAME")
    info.add_argument("--data-root", default="", metavar="DIR",
                      help="look here first for the dataset's files")
    info.add_argument("--split", default="train", choices=("train", "test", "all"))
    info.add_argument("--resolution", type=int, default=0,
                      help="resize to this size (0 = the dataset's own)")
    info.add_argument("--channels", type=int, default=0, choices=(0, 1, 3))
    info.add_argument("--limit", type=int, default=0, help="only the first N examples")
    info.add_argument("--download", action="store_true",
                      help="download a missing built-in dataset (default: only look)")
    dl = sub.add_parser("download", help="download a built-in dataset into the user cache",
                        description="Download the official files of a built-in dataset, "
                        "verify their sha256 and store them in the user cache "
                        "($XDG_CACHE_HOME/gankit/data). $GANKIT_MIRROR replaces the "
                        "official hosts.")
    dl.add_argument("name", metavar="NAME")
    dl.add_argument("--dir", default="", metavar="DIR",
                    help="store the files under DIR instead of the user cache")
    dl.add_argument("--mirror", default=None, metavar="URL",
                    help="base URL laid out as URL/<folder>/<file> (default: $GANKIT_MIRROR, "
                         "else the official hosts)")


def run(args: argparse.Namespace) -> int:
    from gankit.errors import GankitError

    if args.action == "info":
        print(info_text(args.name, root=args.data_root, split=args.split,
                        resolution=args.resolution, channels=args.channels, limit=args.limit,
                        download=args.download))
        return 0
    if args.action == "download":
        from pathlib import Path

        from gankit.data.sources import download

        name = args.name
        dest = Path(args.dir) if args.dir else None
        if name == "cifar10":
            from gankit.data.builtin import download_cifar

            folder = download_cifar(dest, mirror=args.mirror)
        else:
            folder = download(name, dest_root=dest, mirror=args.mirror)
        print(f"{name}: files in {folder}")
        return 0
    raise GankitError("say what to do: gankit data info NAME, or gankit data download NAME")


MAX_CLASS_LINES = 100  # more classes than this: a summary line instead of one line each


def info_text(name: str, *, root: str = "", split: str = "train", resolution: int = 0,
              channels: int = 0, limit: int = 0, download: bool = False) -> str:
    """Load dataset ``name`` and describe it as `gankit data info` prints it."""
    import torch

    from gankit.config import DataConfig
    from gankit.data import load_dataset

    cfg = DataConfig(dataset=name, root=root, split=split, resolution=resolution,
                     channels=channels, limit=limit, download=download)
    ds = load_dataset(cfg)
    lines = [f"dataset:  {name}" + (f" ({split})" if split != "train" else ""),
             f"examples: {len(ds)}"]
    images = getattr(ds, "images", None)
    info = ds.info
    if images is not None:
        lines.append(f"shape:    {tuple(images.shape)} (N x C x H x W)")
        lines.append(f"dtype:    {images.dtype} (0..255; float in [-1, 1] when batched)")
    elif info.kind == "image":  # built per item (e.g. stacked-mnist): the shape from the info
        lines.append(f"shape:    {(len(ds), info.channels, info.resolution, info.resolution)} "
                     f"(N x C x H x W, made per example)")
    elif info.kind == "points":
        lines.append(f"shape:    {(len(ds), info.dim)} (N x dim, float)")
    labels = getattr(ds, "labels", None)
    if labels is not None and info.num_classes:
        counts = torch.bincount(labels, minlength=info.num_classes).tolist()
        lines.append(f"classes:  {info.num_classes}")
        if info.num_classes > MAX_CLASS_LINES:
            # one line per class would bury the rest (stacked-mnist has 1,000)
            c = sorted(counts)
            lines.append(f"  examples per class: min {c[0]}, median {c[len(c) // 2]}, "
                         f"max {c[-1]}; {sum(n == 0 for n in c)} class(es) empty")
        else:
            names = info.class_names or [str(i) for i in range(info.num_classes)]
            for i, (cname, n) in enumerate(zip(names, counts)):
                lines.append(f"  {i:>3}  {cname:<16} {n}")
    else:
        lines.append("classes:  none (unlabelled)")
    lines.append(f"found in: {ds.source}{_via(ds.source, root)}")
    return "\n".join(lines)


def _via(source: str, root: str) -> str:
    """Which search root (``--data-root``, $GANKIT_DATA, cache, system) holds ``source``."""
    from pathlib import Path

    from gankit.data.sources import data_roots

    path = Path(source.split(" (")[0])
    for base, why in data_roots(root):
        if path == base or base in path.parents:
            return f"  (via {why})"
    return ""
