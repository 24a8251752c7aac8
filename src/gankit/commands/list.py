"""gankit list: models, losses, datasets and presets."""
from __future__ import annotations

NAME = "list"
HELP = "list models, losses, datasets and presets"


def add_arguments(p) -> None:
    p.add_argument("what", nargs="?", choices=("models", "losses", "datasets", "presets", "all"),
                   default="all")
    p.add_argument("--keys", metavar="MODEL", help="show every config key for MODEL with its "
                                                   "default and help")


def _first_line(obj) -> str:
    doc = (getattr(obj, "__doc__", "") or "").strip()
    return doc.splitlines()[0] if doc else ""


def run(args) -> int:
    from gankit.config import (DataConfig, EvalConfig, HealthConfig, TrainConfig, describe,
                               list_presets, read_source)
    from gankit.registry import DATASETS, LOSSES, MODELS

    if args.keys:
        cls = MODELS.get(args.keys)
        for section, c in (("model", cls.Config), ("data", DataConfig), ("train", TrainConfig),
                           ("health", HealthConfig), ("eval", EvalConfig)):
            for key, default, help_ in describe(c, section):
                print(f"{key:28s} {default!r:22s} {help_}")
        return 0
    if args.what in ("models", "all"):
        print("models:")
        for n in MODELS.names():
            print(f"  {n:14s} {_first_line(MODELS.get(n))}")
    if args.what in ("losses", "all"):
        print("losses:")
        for n in LOSSES.names():
            print(f"  {n:14s} {_first_line(LOSSES.get(n))}")
    if args.what in ("datasets", "all"):
        print("datasets (folder:PATH and npz:PATH read your own files):")
        for n in DATASETS.names():
            print(f"  {n:14s} {_first_line(DATASETS.get(n))}")
    if args.what in ("presets", "all"):
        print("presets:")
        for n in list_presets():
            raw, _ = read_source(n)
            print(f"  {n:24s} {str(raw.get('description', '')).strip()}")
    return 0
