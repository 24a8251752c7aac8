"""gankit attack RUN_OR_TARGET INPUT --eps 0.3 [--method advgan,fgsm,pgd] --out DIR"""
from __future__ import annotations

NAME = "attack"
HELP = "adversarial examples against a classifier: AdvGAN, FGSM, PGD, with transfer"
DESCRIPTION = """\
Attack a frozen classifier and report, for each method at the same eps: clean accuracy,
accuracy under attack, attack success rate, mean L-inf / L2 of the perturbation, images/s and
black-box transfer to a second classifier. Writes DIR/report.json, DIR/<method>/*.png (the
adversarial images, 8-bit) with predictions.csv, and DIR/<method>_sheet.png (rows: clean,
perturbation amplified, adversarial).

RUN_OR_TARGET: a trained advgan run directory, export or checkpoint (it attacks the classifier
it was trained against, or --target), or a classifier alone for fgsm / pgd: mnist,
fashion-mnist, mnist-lenet, or a TorchScript file mapping float images in [0, 1]
(N x C x H x W) to logits (N x K).
INPUT: a data set spec (mnist:test; a bare name is its test split), a folder of images
(class subfolders named 0..K-1 give labels; otherwise the classifier's clean predictions
stand in for labels) or one image file.

  gankit train mnist-advgan --out runs/adv
  gankit attack runs/adv mnist:test --out attack-out            # advgan, fgsm and pgd rows
  gankit attack model.pt mnist:test --method fgsm,pgd --limit 1000 --out pgd-out"""


def add_arguments(p) -> None:
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("source", metavar="RUN_OR_TARGET",
                   help="an advgan run / export / checkpoint, or a classifier (see above)")
    p.add_argument("input", metavar="INPUT", help="data set spec, image folder or image file")
    p.add_argument("--out", required=True, help="folder for the images and report.json")
    p.add_argument("--eps", type=float, default=None,
                   help="L-inf bound in [0, 1] pixel units (default: the run's eps, else 0.3)")
    p.add_argument("--method", default=None,
                   help="comma list of advgan, fgsm, pgd (default: all three for an advgan "
                        "run, fgsm,pgd for a classifier)")
    p.add_argument("--target", default=None,
                   help="with an advgan run: attack this classifier instead of the run's own")
    p.add_argument("--target-class", type=int, default=None,
                   help="targeted attack: make the classifier say this class (fgsm / pgd; an "
                        "advgan run is targeted by its training config)")
    p.add_argument("--transfer", default="auto",
                   help="second classifier for black-box transfer: auto (mnist-lenet for "
                        "MNIST-shaped inputs, trained on first use), none, or a target spec")
    p.add_argument("--pgd-steps", type=int, default=40, help="PGD iterations")
    p.add_argument("--restarts", type=int, default=1,
                   help="PGD random restarts of the examples not yet fooled")
    p.add_argument("--limit", type=int, default=0, help="attack only the first N images")
    p.add_argument("--save", type=int, default=-1,
                   help="adversarial PNGs written per method (-1 = all, 0 = none)")
    p.add_argument("--batch-size", type=int, default=256, help="images per batch")
    p.add_argument("--seed", type=int, default=0, help="seed of PGD's random starts")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = default)")


def run(args) -> int:
    import logging

    import torch

    from gankit.attacks.runner import (default_transfer, format_report, load_inputs,
                                       load_source, make_methods, run_attacks)
    from gankit.attacks.targets import load_target, probe
    from gankit.errors import GankitError

    for flag, value, low in (("--batch-size", args.batch_size, 1), ("--pgd-steps",
                             args.pgd_steps, 1), ("--restarts", args.restarts, 1),
                             ("--limit", args.limit, 0)):
        if value < low:
            raise GankitError(f"{flag} must be at least {low}, got {value}")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" \
        else args.device
    src = load_source(args.source, args.target, device)
    eps = args.eps if args.eps is not None else (src.eps if src.eps is not None else 0.3)
    if not 0 <= eps <= 1:
        raise GankitError(f"--eps {eps} is outside [0, 1] (pixel units of [0, 1] images)")
    inputs = load_inputs(args.input, src.channels, src.resolution, args.limit)
    c, r = inputs.x.shape[1], inputs.x.shape[2]
    k = probe(src.target, c, r, device)
    tc = args.target_class
    if src.advgan is not None and tc is None and src.description["run_target_class"] >= 0:
        tc = int(src.description["run_target_class"])
    if tc is not None and not 0 <= tc < k:
        raise GankitError(f"--target-class {tc} is out of range: the target has classes "
                          f"0..{k - 1}")
    names = [m.strip() for m in (args.method or ("advgan,fgsm,pgd" if src.advgan else
                                                 "fgsm,pgd")).split(",") if m.strip()]
    methods = make_methods(src.target, names, advgan=src.advgan, target_class=tc,
                           pgd_steps=args.pgd_steps, restarts=args.restarts, seed=args.seed)
    spec = default_transfer(src.target, c, r) if args.transfer == "auto" else \
        (None if args.transfer == "none" else args.transfer)
    transfer = None
    if spec:
        try:
            transfer = load_target(spec, channels=c, device=device)
            probe(transfer, c, r, device)
        except GankitError as e:
            if args.transfer != "auto":
                raise
            # the automatic choice must not stop an attack (e.g. no MNIST files to train it)
            logging.getLogger("gankit").warning("no transfer row: %s", e)
            transfer = None
    report = run_attacks(src.target, inputs, methods, eps, args.out, target_class=tc,
                         transfer=transfer, batch_size=args.batch_size, save_images=args.save,
                         device=device, extra=src.description)
    print(format_report(report))
    print(f"report: {args.out}/report.json")
    return 0
