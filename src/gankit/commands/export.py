"""gankit export RUN_DIR [--onnx gen.onnx] : ONNX graph, or re-write export/ from a checkpoint"""
from __future__ import annotations

NAME = "export"
HELP = "export a generator: ONNX (--onnx) or the safetensors export/ of a run"
DESCRIPTION = ("With --onnx FILE: write the generator as an ONNX graph with a dynamic batch "
               "axis and check it against PyTorch with onnxruntime. Without: re-write "
               "RUN_DIR/export (generator.safetensors + config.json + a README.md model "
               "card with samples.png) from the newest checkpoint, e.g. after resuming a run. "
               "Load the folder with gankit.load(FOLDER) or torch.hub (hubconf.py); upload "
               "it with gankit.push_to_hub(FOLDER, REPO_ID).")


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory (export folder or checkpoint with --onnx)")
    p.add_argument("--onnx", help="ONNX file to write")
    p.add_argument("--direction", default="AtoB", help="translation models: AtoB or BtoA")
    from gankit.commands.sample import add_generation_options

    add_generation_options(p, "generation option fixed into the ONNX graph (e.g. psi=0.7)")
    p.add_argument("--no-verify", action="store_true", help="skip the onnxruntime check")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest allowed |ONNX - PyTorch| difference (default 1e-4)")
    p.add_argument("--out", help="without --onnx: export folder (default RUN_DIR/export)")
    p.add_argument("--push", metavar="REPO_ID",
                   help="without --onnx: then upload the folder to the Hugging Face Hub as this "
                        "model repository (needs pip install 'gankit[hub]' and a login)")
    p.add_argument("--no-card", action="store_true",
                   help="without --onnx: skip the README.md model card and its samples.png")


def run(args) -> int:
    from gankit.errors import GankitError
    from gankit.commands.sample import generation_options

    if not args.onnx:
        from gankit.export.folder import rewrite_export

        out = rewrite_export(args.source, args.out, card=not args.no_card)
        print(f"wrote the generator export (safetensors + config.json"
              f"{'' if args.no_card else ' + README.md model card'}) to {out}")
        if args.push:
            from gankit.export.hub import push_to_hub

            print(f"uploaded to the Hugging Face Hub: {push_to_hub(out, args.push)}")
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
    options = generation_options(args)
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
