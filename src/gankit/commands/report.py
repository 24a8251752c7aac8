"""gankit report RUN_DIR [RUN_DIR ...]: rebuild report.html from a run folder."""
from __future__ import annotations

NAME = "report"
HELP = "rebuild report.html of a run (samples, curves, metrics, config, health warnings)"


def add_arguments(p) -> None:
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folder(s)")
    p.add_argument("--max-grids", type=int, default=24,
                   help="sample grids to embed, evenly spaced (default 24)")


def run(args) -> int:
    from gankit.errors import GankitError
    from gankit.runfiles.report import write_report

    if args.max_grids < 1:
        raise GankitError("--max-grids must be at least 1")
    for run_dir in args.runs:
        path = write_report(run_dir, max_grids=args.max_grids)
        print(f"wrote {path}")
    return 0
