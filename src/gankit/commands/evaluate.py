"""``gankit evaluate``: FID, IS, KID, precision/recall with their protocol; feature-net training."""
from __future__ import annotations

NAME = "evaluate"
HELP = "compute FID / IS / KID / precision-recall of a generator, folder, npz or dataset"
DESCRIPTION = """\
Compute GAN metrics for SOURCE against the real images of --ref, printing every number with
its protocol (feature net, resize mode, number of images on each side, reference split).

SOURCE: a run directory, an exported generator folder or checkpoint (N samples, seeds 0..N-1),
a folder of images (folder:PATH), an .npz (npz:PATH), or a dataset (cifar10:test, mnist:train).
--ref defaults, for a run, export or checkpoint, to the run's own training data as its model
saw it (resolution, channels, crop); the command says so.

  gankit train cifar10-dcgan                    # writes runs/00000-cifar10-dcgan
  gankit evaluate runs/00000-cifar10-dcgan --metrics fid,is,kid,pr --num 10000
  gankit evaluate mnist:test --ref mnist:train --feature-net mnist --metrics fid,coverage
  gankit evaluate train-feature-net mnist      # train the MNIST feature net (a few minutes)
  gankit evaluate train-feature-net fashion-mnist   # the same net on Fashion-MNIST
  gankit evaluate runs/00001-mnist-sgan        # test accuracy of the semi-supervised classifier

The mnist and fashion-mnist feature nets are trained and cached on first use when missing
(a few CPU minutes; `train-feature-net` does it ahead of time).

accuracy: for a run (or checkpoint) of a model that is also a classifier (sgan), the accuracy
of its classify() on the test split of the run's base data set (semi:100:mnist -> mnist:test;
for dann, the target domain's test split; `gankit adapt` compares it with its baselines).

The FID Inception weights (pt_inception-2015-12-05-6726825d.pth) are read from --weights,
$GANKIT_DATA, the user cache (~/.cache/gankit/weights) or torch hub's cache, or downloaded."""


def add_arguments(p) -> None:
    import argparse

    p.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the examples' lines
    p.add_argument("source", help="what to evaluate (see above), or `train-feature-net`")
    p.add_argument("extra", nargs="?", default=None,
                   help="with train-feature-net: the feature net to train (mnist or "
                        "fashion-mnist)")
    p.add_argument("--ref", default=None,
                   help="reference dataset, e.g. cifar10:train (default for a run, export or "
                        "checkpoint: the run's own training data)")
    p.add_argument("--metrics", default=None,
                   help="comma list of fid, is, kid, pr, coverage, accuracy (default: fid; "
                        "accuracy for a run of a classifying model such as sgan, plus fid "
                        "when --ref is given)")
    p.add_argument("--num", type=int, default=10000, help="images taken from SOURCE")
    p.add_argument("--num-ref", type=int, default=0, help="images of --ref (0 = all)")
    p.add_argument("--feature-net", default="inception", help="inception, mnist or fashion-mnist")
    p.add_argument("--resize", default="legacy", choices=("legacy", "clean"),
                   help="legacy = bilinear like pytorch-fid; clean = PIL bicubic like clean-fid")
    p.add_argument("--weights", default=None, help="feature net weights file")
    p.add_argument("--batch-size", type=int, default=0, help="0 = the feature net's default")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = default)")
    p.add_argument("--kid-subset-size", type=int, default=1000)
    p.add_argument("--kid-subsets", type=int, default=100)
    p.add_argument("--no-cache", action="store_true", help="recompute reference statistics")
    p.add_argument("--json", default=None, help="also write the result to this JSON file")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--out", default=None, help="with train-feature-net: where to save weights")
    p.add_argument("--epochs", type=int, default=None,
                   help="with train-feature-net: epochs (default: mnist 2, fashion-mnist 8)")


def run(args) -> int:
    import torch

    from gankit.errors import GankitError

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.source == "train-feature-net":
        from gankit.metrics.mnist_net import train_feature_net

        name = args.extra or "mnist"
        path, meta = train_feature_net(args.out, epochs=args.epochs,
                                       progress=not args.no_progress, name=name)
        print(f"{name} feature net: test accuracy {meta['test_accuracy']:.4f} after "
              f"{meta['epochs']} epochs in {meta['train_seconds']:.0f}s "
              f"({meta['threads']} threads) -> {path}")
        return 0
    if args.extra is not None:
        raise GankitError(f"unexpected argument {args.extra!r}")

    from gankit.metrics.evaluate import EvalOptions, evaluate, format_result

    opts = EvalOptions(num=args.num, num_ref=args.num_ref, feature_net=args.feature_net,
                       resize=args.resize, weights=args.weights, batch_size=args.batch_size,
                       device=args.device, kid_subsets=args.kid_subsets,
                       kid_subset_size=args.kid_subset_size, use_cache=not args.no_cache,
                       progress=not args.no_progress)
    metrics = args.metrics
    if metrics is None:
        from gankit.metrics.classifier import is_classifier_run

        metrics = "fid"
        if is_classifier_run(args.source):
            metrics = "accuracy,fid" if args.ref else "accuracy"
    from gankit.metrics.evaluate import NEEDS_REF, default_ref, parse_metrics

    ref = args.ref
    if ref is None and NEEDS_REF & set(parse_metrics(metrics)):
        try:
            ref = default_ref(args.source)
        except GankitError as e:
            raise GankitError(f"--ref not given, and the run's own training data cannot be "
                              f"loaded ({e}); pass --ref DATASET") from None
        if ref is not None:
            print(f"--ref not given: comparing with the run's own training data, "
                  f"{ref.describe()} (pass --ref DATASET to choose another)")
    result = evaluate(args.source, ref, metrics, opts)
    print(format_result(result))
    if args.json:
        from gankit.utils.io import write_json

        write_json(args.json, result)
    return 0
