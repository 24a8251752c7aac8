"""Test accuracy of a semi-supervised GAN's discriminator as an MNIST classifier.

    python benchmarks/families/sgan_accuracy.py RUN_DIR_OR_CHECKPOINT [--net D]

By default the classifier is what ``SGAN.classify`` uses (the running average of D's weights,
``model.d_ema``); ``--net D`` scores the raw D instead, for comparison.

Loads D from the run's newest checkpoint (the export holds only G), classifies the 10,000
MNIST test digits (read from the IDX files) and prints accuracy and the error count next to
Salimans et al. (2016): 93 +- 6.5 errors with 100 labels (feature matching, their Table 1).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "src"))
from mnist_io import load  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run")
    p.add_argument("--net", default=None, help="score this net (D or D_ema) instead of the "
                                                "one classify() uses")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    from gankit.metrics.classifier import accuracy, load_classifier

    model, _, step, path = load_classifier(a.run)
    x, y = load("test")
    if a.net is not None:
        net = model.nets[a.net]

        class _One:  # classify() with the chosen net
            classify = staticmethod(lambda imgs: model.classify(imgs, D=net))

        r = accuracy(_One(), x, y)
    else:
        r = accuracy(model, x, y)
    which = a.net or ("D_ema" if "D_ema" in model.nets else "D")
    print(f"{path} (step {step}, {which}): test accuracy {r['accuracy']:.4f}, "
          f"{r['errors']} errors in {r['examples']} (Salimans et al. 2016, 100 labels: 93 +- 6.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
