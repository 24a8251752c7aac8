"""Issue-2 check: does a digit generator make recognisable digits of all ten classes?

Samples the fixed seeds 0..N-1 from a run (or export) and labels them with gankit's MNIST
classifier (trained separately on real MNIST: `gankit evaluate train-feature-net mnist`), an
independent judge of the generator. Prints the class histogram, the share of samples the
classifier labels with confidence >= 0.9, and the mean confidence.

    python benchmarks/quality/digits_check.py runs/a --num 10000
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from gankit.data.base import to_uint8  # noqa: E402
from gankit.metrics.mnist_net import _prep, load_classifier  # noqa: E402
from gankit.sampling import load_generator  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("source")
    ap.add_argument("--num", type=int, default=10000)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(1)
    gen = load_generator(args.source, "cpu")
    clf, meta = load_classifier()
    clf.eval()
    probs = []
    with torch.inference_mode():
        for i in range(0, args.num, 500):
            x = gen.generate(list(range(i, min(i + 500, args.num))))
            probs.append(torch.softmax(clf(_prep(to_uint8(x)))[1].float(), 1))
    p = torch.cat(probs)
    conf, label = p.max(1)
    hist = torch.bincount(label, minlength=10)
    out = {"source": args.source, "samples": args.num, "seeds": f"0-{args.num - 1}",
           "classifier": f"gankit MNIST classifier (test acc {meta.get('test_accuracy', '?')})",
           "class_histogram": hist.tolist(), "classes_present": int((hist > 0).sum()),
           "min_class_share": float(hist.min() / args.num),
           "confident_share_0.9": float((conf >= 0.9).float().mean()),
           "mean_confidence": float(conf.mean())}
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
