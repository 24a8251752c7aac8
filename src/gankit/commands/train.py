"""gankit train PRESET_OR_YAML [key=value ...] [--out DIR] [--resume auto|PATH]"""
from __future__ import annotations

import re
from pathlib import Path

NAME = "train"
HELP = "train a GAN from a preset or YAML config"
DESCRIPTION = ("Train a GAN. CONFIG is a preset name (`gankit list`) or a YAML file; "
               "key=value overrides use dotted keys, e.g. train.steps=500 model.ngf=32.")


def add_arguments(p) -> None:
    p.add_argument("config", help="preset name or YAML file")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    p.add_argument("--out", help="run directory (default: runs/NNNNN-<preset>)")
    p.add_argument("--resume", metavar="auto|PATH",
                   help="continue from the newest valid checkpoint in --out (auto) or a file")
    p.add_argument("--data-root", help="where dataset files live (sets data.root)")
    p.add_argument("--dry-run", action="store_true",
                   help="print the resolved config and the run folder, then stop (no training)")


def next_run_dir(root: Path, name: str) -> Path:
    nums = [int(m.group(1)) for p in root.glob("*") if (m := re.match(r"^(\d{5})-", p.name))]
    return root / f"{(max(nums) + 1) if nums else 0:05d}-{name}"


def latest_run_dir(root: Path, name: str) -> Path | None:
    runs = sorted(p for p in root.glob(f"[0-9][0-9][0-9][0-9][0-9]-{name}") if p.is_dir())
    return runs[-1] if runs else None


def run(args) -> int:
    from gankit.config import load_config
    from gankit.train.trainer import train

    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    cfg = load_config(args.config, overrides)
    name = cfg.preset or Path(args.config).stem
    if args.out:
        out = Path(args.out)
    elif args.resume == "auto" and (found := latest_run_dir(Path("runs"), name)) is not None:
        out = found
    else:
        out = next_run_dir(Path("runs"), name)
    if args.dry_run:
        from gankit.commands.config import resolved_text

        print(resolved_text(cfg))
        print(f"# dry run: would train into {out}"
              + (f" (resume: {args.resume})" if args.resume else ""))
        return 0
    out = train(cfg, out, resume=args.resume)
    print(f"run written to {out}")
    return 0
