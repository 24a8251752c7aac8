"""gankit translate RUN_DIR_OR_EXPORT INPUT --direction AtoB|BtoA --out FOLDER [--sheet PNG]"""
from __future__ import annotations

NAME = "translate"
HELP = "translate images with a trained pix2pix / CycleGAN model"
DESCRIPTION = (
    "Translate an image file or a folder of images with a trained image-to-image model. "
    "Every image is converted to the model's channels, resized to its square resolution "
    "(or to --size), "
    "translated and resized back to its own size; outputs keep the input file names (and "
    "transparency, for PNG/WebP/TIFF). Files that cannot be read are skipped and listed; "
    "the exit code is then 1 (0 when every image was translated).")


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory, export folder or checkpoint file")
    p.add_argument("input", help="an image file or a folder of images")
    p.add_argument("--direction", default="AtoB", choices=("AtoB", "BtoA"),
                   help="AtoB (default) or BtoA; pix2pix models translate AtoB only")
    p.add_argument("--out", required=True, help="folder for the translated images")
    p.add_argument("--sheet", help="also write a side-by-side input | output sheet (PNG)")
    p.add_argument("--batch-size", type=int, default=16, help="images per forward pass")
    p.add_argument("--size", type=int, default=0,
                   help="translate at this square size instead of the model's resolution "
                        "(for models trained on crops: 256 for maps-pix2pix; U-Nets need a "
                        "multiple of their training resolution)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")


def run(args) -> int:
    from gankit.errors import GankitError
    from gankit.sampling.translate import load_translator, translate_images

    if args.batch_size < 1:
        raise GankitError("--batch-size must be at least 1")
    model = load_translator(args.source, args.device)
    report = translate_images(model, args.input, args.out, args.direction, sheet=args.sheet,
                              batch_size=args.batch_size, size=args.size)
    print(report.summary())
    return 1 if report.skipped else 0
