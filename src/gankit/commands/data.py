"""``gankit data info NAME``, ``gankit data download NAME``, ``gankit data pack FOLDER OUT.zip``."""
from __future__ import annotations

import argparse

NAME = "data"
HELP = "inspect, download or pack datasets"
DESCRIPTION = ("Inspect a dataset (count, shape, classes, where its files were found), "
               "download a built-in one into the user cache, or pack a folder of images into "
               "a zip for streaming.")


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
    pk = sub.add_parser("pack", help="decode, crop and resize a folder of images once, into a zip",
                        description="Prepare a data set once, like stylegan2-ada's dataset_tool: "
                        "every readable image of FOLDER (or of a zip) is centre-cropped, resized "
                        "and stored as a PNG in OUT.zip, with dataset.json holding the labels of "
                        "class subfolders (--format raw: uncompressed uint8 arrays instead, read "
                        "without decoding). Unreadable files are skipped and listed. Train on it "
                        "with data.dataset=zip:OUT.zip (streamed when it is large).")
    pk.add_argument("source", metavar="FOLDER")
    pk.add_argument("out", metavar="OUT.zip")
    pk.add_argument("--resolution", type=int, default=0,
                    help="square size of the stored images (0 = the most common crop size)")
    pk.add_argument("--center-crop", type=int, default=0, metavar="N",
                    help="crop a centred square of N source pixels first (0 = the largest)")
    pk.add_argument("--channels", type=int, default=0, choices=(0, 1, 3),
                    help="1 = greyscale, 3 = RGB, 0 = 1 if every image is greyscale, else 3")
    pk.add_argument("--format", default="png", choices=("png", "raw"),
                    help="png: PNG images, stylegan2-ada's layout (default); raw: uncompressed "
                         "C x H x W uint8 .npy arrays, read without decoding (faster to train "
                         "from, about the decoded size on disk)")


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
    if args.action == "pack":
        return pack(args)
    raise GankitError("say what to do: gankit data info NAME, gankit data download NAME, or "
                      "gankit data pack FOLDER OUT.zip")


SHOW_SKIPPED = 20  # skipped files listed by name; the count is always given


def pack(args: argparse.Namespace) -> int:
    import sys

    from gankit.data.pack import pack_images
    from gankit.errors import GankitError

    for name in ("resolution", "center_crop"):
        if getattr(args, name) < 0:
            raise GankitError(f"--{name.replace('_', '-')} must be 0 or more")
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty and (done % 500 == 0 or done == total):
            print(f"\rpacking {done}/{total}", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)

    r = pack_images(args.source, args.out, resolution=args.resolution,
                    center_crop=args.center_crop, channels=args.channels,
                    format=args.format, progress=progress)
    kind = "RGB" if r.channels == 3 else "greyscale"
    classes = f", {len(r.class_names)} classes" if r.class_names else ", unlabelled"
    raw = ", raw uint8" if args.format == "raw" else ""
    print(f"packed {r.written} images ({r.resolution}x{r.resolution} {kind}{classes}{raw}) "
          f"into {r.out} ({r.out.stat().st_size / 1e6:.1f} MB)")
    if r.skipped:
        print(f"skipped {len(r.skipped)} unreadable file(s):")
        for line in r.skipped[:SHOW_SKIPPED]:
            print(f"  {line}")
        if len(r.skipped) > SHOW_SKIPPED:
            print(f"  ... and {len(r.skipped) - SHOW_SKIPPED} more")
    print(f"train on it with data.dataset=zip:{r.out}")
    return 0


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
        how = "decoded per batch: streamed" if getattr(ds, "files", None) else "made per example"
        lines.append(f"shape:    {(len(ds), info.channels, info.resolution, info.resolution)} "
                     f"(N x C x H x W, {how})")
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
