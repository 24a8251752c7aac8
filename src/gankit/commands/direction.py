"""gankit direction SOURCE --classifier brightness --out dir.npy [--method ...]"""
from __future__ import annotations

NAME = "direction"
HELP = "find a latent direction for an attribute (for `gankit edit`)"
DESCRIPTION = (
    "Find a unit direction in z that increases an attribute, and save it as .npy. "
    "With --classifier, generated samples are scored (a callable image -> score: "
    "`brightness`, module:name or file.py:name) and the direction is fitted from the "
    "scores (--method mean|logistic, split at the median score) or found by gradient ascent "
    "on the score (--method gradient, differentiable classifiers). With --labels, fit on your "
    "own latents and labels (an npz with `z` and `labels`).")


def add_arguments(p) -> None:
    p.add_argument("source", help="run directory, export folder or checkpoint file")
    p.add_argument("--out", required=True, help=".npy file for the direction")
    p.add_argument("--classifier", help="brightness, module:name or path/file.py:name")
    p.add_argument("--labels", help="npz with `z` (N x z_dim) and `labels` (N) instead")
    p.add_argument("--method", choices=("mean", "logistic", "gradient"), default="logistic",
                   help="difference of class means, logistic-regression normal, or "
                        "classifier gradient ascent (default logistic)")
    p.add_argument("--samples", default="0-999", help="seeds to score (default 0-999)")
    p.add_argument("--attribute", type=int, default=0,
                   help="column of the classifier output to increase (N x K scores)")
    p.add_argument("--threshold", type=float, help="score splitting the classes "
                                                   "(default the median)")
    p.add_argument("--hold", default="", help="classifier columns to keep fixed (gradient "
                                              "method), e.g. 1,2")
    p.add_argument("--hold-weight", type=float, default=1.0,
                   help="penalty on held changes, in units of their spread (default 1)")
    p.add_argument("--orthogonal-to", action="append", default=[], metavar="DIR.npy",
                   help="remove these directions' components (hold their attributes); "
                        "repeatable")
    p.add_argument("--steps", type=int, default=10, help="gradient method: ascent steps")
    p.add_argument("--lr", type=float, default=0.2, help="gradient method: step length in z")
    p.add_argument("--class", dest="class_id", type=int, help="class (conditional models)")
    p.add_argument("--save-scores", help="also save the scored latents (npz z, labels)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")


def run(args) -> int:
    import numpy as np

    from gankit.errors import GankitError
    from gankit.sampling import load_generator
    from gankit.sampling import editing as ed
    from gankit.utils.seeds import parse_seeds

    if bool(args.classifier) == bool(args.labels):
        raise GankitError("give either --classifier (score generated samples) or --labels "
                          "(an npz of your own latents and labels)")
    gen = load_generator(args.source, args.device)
    hold = [int(h) for h in args.hold.split(",") if h.strip()]
    if args.labels:
        if args.method == "gradient":
            raise GankitError("--method gradient needs --classifier")
        z, y = ed.load_labelled_latents(args.labels)
        d = ed.direction_from_labels(z, y, args.method, threshold=args.threshold)
        what = f"{len(z)} labelled latents from {args.labels}"
    else:
        clf = ed.load_classifier(args.classifier)
        seeds = parse_seeds(args.samples)
        if args.method == "gradient":
            z = gen.latents(seeds).cpu()
            lab = gen.labels_for(seeds, args.class_id)
            d = ed.direction_from_classifier(gen, clf, z, args.attribute, steps=args.steps,
                                             lr=args.lr, hold=hold,
                                             hold_weight=args.hold_weight, labels=lab)
            what = f"gradient ascent on {args.classifier} from {len(seeds)} latents"
        else:
            z, scores = ed.sample_and_score(gen, seeds, clf, class_id=args.class_id)
            y = ed._column(scores, args.attribute)
            if args.save_scores:
                np.savez(args.save_scores, z=z.numpy(), labels=y.numpy())
            d = ed.direction_from_labels(z, y, args.method, threshold=args.threshold)
            what = f"{len(seeds)} samples scored by {args.classifier}"
    if args.orthogonal_to:
        others = [ed.load_direction(p, d.numel()) for p in args.orthogonal_to]
        d = ed.orthogonalize(d, others)
    ed.save_direction(args.out, d)
    print(f"wrote a {d.numel()}-d unit direction ({args.method}, {what}) to {args.out}")
    return 0
