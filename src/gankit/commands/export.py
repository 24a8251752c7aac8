"""gankit export RUN_DIR [--onnx gen.onnx] : ONNX graph, or re-write export/ from a checkpoint"""
from __future__ import annotations

from pathlib import Path

NAME = "export"
HELP = "export a generator: ONNX (--onnx) or the safetensors export/ of a run"
DESCRIPTION = ("With --onnx FILE: write the generator as an ONNX graph with a dynamic batch "
               "axis and check it against PyTorch with onnxruntime. Without: re-write "
               "RUN_DIR/export (generator.safetensors + config.json) from the newest "
               "checkpoint, e.g. after resuming a run.")


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory (export folder or checkpoint with --onnx)")
    p.add_argument("--onnx", help="ONNX file to write")
    p.add_argument("--direction", default="AtoB", help="translation models: AtoB or BtoA")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="generation option fixed into the ONNX graph (e.g. psi=0.7)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest allowed |ONNX - PyTorch| difference (default 1e-4)")
    p.add_argument("--out", help="without --onnx: export folder (default RUN_DIR/export)")


def rewrite_export(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Re-write the safetensors export of ``run_dir`` from its newest valid checkpoint."""
    import torch

    from gankit.errors import CheckpointError, GankitError
    from gankit.sampling.loading import _load_checkpoint_state
    from gankit.train.checkpoint import find_resumable
    from gankit.train.export import export_generator

    run_dir = Path(run_dir)
    if not (run_dir / "checkpoints").is_dir():
        raise GankitError(f"{run_dir} is not a run directory with checkpoints/; "
                          f"give a training run (or use --onnx to convert an export)")
    found = find_resumable(run_dir / "checkpoints")
    if found is None:
        raise CheckpointError(f"{run_dir}/checkpoints holds no readable checkpoint")
    path, state = found
    gen = _load_checkpoint_state(state, path, torch.device("cpu"))
    out = Path(out) if out else run_dir / "export"
    export_generator(gen.model, gen.gens, gen.cfg, gen.info, out, step=gen.step,
                     ema=bool(state.get("ema")))
    return out


def run(args) -> int:
    from gankit.errors import GankitError
    from gankit.commands.sample import parse_options

    if not args.onnx:
        out = rewrite_export(args.source, args.out)
        print(f"wrote the generator export (safetensors + config.json) to {out}")
        return 0
    from gankit.export.onnx import _need, export_onnx, verify_onnx
    from gankit.sampling import load_generator

    _need("onnx")
    if not args.no_verify:
        try:
            _need("onnxruntime")
        except GankitError as e:
            raise GankitError(f"{e} (or pass --no-verify to skip the check)") from None

    gen = load_generator(args.source, "cpu")
    options = parse_options(args.option)
    export_onnx(gen, args.onnx, direction=args.direction, options=options)
    print(f"wrote {args.onnx} ({gen.cfg.model.name}, step {gen.step})")
    if not args.no_verify:
        diff = verify_onnx(gen, args.onnx, direction=args.direction, options=options)
        if diff > args.tolerance:
            raise GankitError(
                f"ONNX output differs from PyTorch by {diff:.2e} > {args.tolerance:g}. An "
                f"untrained or barely trained net can do this when a normalisation layer "
                f"divides by a near-zero variance (rounding noise is amplified); otherwise "
                f"the graph is not faithful: please report it. --tolerance sets the limit")
        print(f"verified with onnxruntime: max |ONNX - PyTorch| = {diff:.2e}")
    return 0
