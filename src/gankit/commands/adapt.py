"""gankit adapt CONFIG [key=value ...] --out DIR: source-only vs DANN vs train-on-target."""
from __future__ import annotations

NAME = "adapt"
HELP = "domain adaptation: train and compare source-only, DANN and train-on-target runs"
DESCRIPTION = """\
Train a dann config three ways into DIR (source-only: no domain gradient; dann: as given;
target-only: on the labelled target training split, the upper bound) and report each run's
accuracy on the target test split, its accuracy on the source test split, its own domain
classifier's accuracy on the test features and a fresh domain probe's (0.5 = the features do
not tell the domains apart). Writes DIR/adapt.json, DIR/adapt.html, DIR/features_pca.png
(PCA of source vs target features before and after adaptation) and DIR/target_samples.png.
Finished runs in DIR are reused, interrupted ones continue.

  gankit adapt mnist-to-mnistm-dann --out runs/adapt-mnistm
  gankit adapt mnist-to-mnistm-dann train.steps=500 --runs source-only,dann --out /tmp/a
  gankit adapt my-dann.yaml data.dataset=domains:folder:photos,folder:sketches --out /tmp/b"""


def add_arguments(p) -> None:
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("config", help="preset name or YAML file of a dann model")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted config overrides")
    p.add_argument("--out", required=True, help="folder for the three runs and the report")
    p.add_argument("--runs", default="source-only,dann,target-only",
                   help="comma list of the runs to train and score")
    p.add_argument("--data-root", help="where dataset files live (sets data.root)")
    p.add_argument("--json", default=None, help="also write the result to this JSON file")


def run(args) -> int:
    from gankit.config import load_config
    from gankit.metrics.adaptation import format_result, run_adaptation

    overrides = list(args.overrides)
    if args.data_root:
        overrides.append(f"data.root={args.data_root}")
    cfg = load_config(args.config, overrides)
    runs = tuple(r.strip() for r in args.runs.split(",") if r.strip())
    result = run_adaptation(cfg, args.out, runs)
    print(format_result(result))
    print(f"report: {args.out}/adapt.html")
    if args.json:
        from gankit.utils.io import write_json

        write_json(args.json, result)
    return 0
