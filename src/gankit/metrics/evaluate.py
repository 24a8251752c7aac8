"""``evaluate``: one feature pass per side, every requested metric, and the protocol.

    result = evaluate("runs/00000-cifar10-dcgan", ref="cifar10:train",
                      metrics=("fid", "is", "kid", "pr"), num=10000)
    result["metrics"]["fid"], result["protocol"]

Each side's images go through the feature net once; FID, KID and precision/recall use the
``pool`` features, the Inception Score and class coverage the ``logits``. Reference-side
features of named datasets are cached (:mod:`gankit.metrics.refstats`).

``accuracy`` is of another kind: for a run of a model that is also a classifier (the
``classify`` capability, e.g. ``sgan``) it is the test accuracy of that classifier on the
test split of the run's base data set (:mod:`gankit.metrics.classifier`); no feature net.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit.errors import GankitError

log = logging.getLogger(__name__)

METRICS = ("fid", "is", "kid", "pr", "coverage", "accuracy")
NEEDS_REF = {"fid", "kid", "pr"}


@dataclass
class EvalOptions:
    num: int = 10000             # images from the source
    num_ref: int = 0             # images from the reference (0 = all of it)
    feature_net: str = "inception"
    resize: str = "legacy"       # legacy (pytorch-fid) | clean (clean-fid)
    weights: str | None = None   # feature net weights file
    batch_size: int = 0          # 0 = the feature net's default
    device: str = "cpu"
    is_splits: int = 10
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_k: int = 3
    use_cache: bool = True
    progress: bool = True


def parse_metrics(text: str | tuple | list) -> tuple[str, ...]:
    from gankit.errors import did_you_mean

    names = [m.strip().lower() for m in (text.split(",") if isinstance(text, str) else text)]
    names = [m for m in names if m]
    for m in names:
        if m not in METRICS:
            raise GankitError(f"unknown metric {m!r}{did_you_mean(m, METRICS)} "
                              f"(known: {', '.join(METRICS)})")
    if not names:
        raise GankitError("no metrics asked for: use e.g. --metrics fid,is,kid,pr")
    return tuple(dict.fromkeys(names))


def build_feature_net(opts: EvalOptions):
    from gankit.registry import FEATURE_NETS

    return FEATURE_NETS.get(opts.feature_net)(weights=opts.weights, resize=opts.resize,
                                              device=opts.device, progress=opts.progress)


def source_features(src, net, num: int, opts: EvalOptions, desc: str) -> dict[str, np.ndarray]:
    """Features of ``num`` images of ``src`` (through the reference cache when it has a key)."""
    from gankit.metrics import refstats
    from gankit.metrics.features import extract
    from gankit.metrics.scores import feature_stats

    key = None
    if opts.use_cache and src.cache_key() is not None:
        key = refstats.cache_key(src.cache_key(), num, net.name, getattr(net, "resize", ""),
                                 getattr(net, "weights_path", None))
        hit = refstats.load(key)
        if hit is not None:
            log.info("reference statistics from cache %s", refstats.path_for(key))
            return hit
    bs = opts.batch_size or net.batch_size
    feats = extract(net, src.batches(bs, num), num, progress=opts.progress, desc=desc)
    feats["mu"], feats["sigma"] = feature_stats(feats["pool"])
    if key is not None:
        refstats.save(key, feats)
    return feats


def run_config(source):
    """The resolved :class:`~gankit.config.Config` of the run that ``source`` (a run folder, an
    export folder or a checkpoint file) came from; None for other sources (folders of images,
    npz files, data sets)."""
    import json

    from gankit.config import config_from_dict, load_yaml

    p = Path(str(source))
    if p.is_dir() and (p / "config.yaml").is_file():
        # the run's own resolved config, possibly an older gankit's (saved=True moves keys)
        return config_from_dict(load_yaml((p / "config.yaml").read_text()), saved=True)
    if p.is_dir() and (p / "config.json").is_file() and (p / "generator.safetensors").is_file():
        try:
            return config_from_dict(json.loads((p / "config.json").read_text())["config"],
                                    saved=True)
        except (ValueError, KeyError, TypeError):
            return None  # the loader says what is wrong with it
    if p.is_file() and p.suffix in (".pt", ".pth"):
        from gankit.runfiles.checkpoint import load_checkpoint

        return config_from_dict(load_checkpoint(p)["config"], saved=True)
    return None


def default_ref(source):
    """The default reference of ``source``: the training images of its run as the model saw
    them (:func:`~gankit.metrics.sources.training_source`), or None when it is not a run."""
    from gankit.metrics.sources import training_source

    cfg = run_config(source)
    return None if cfg is None else training_source(cfg.data)


def evaluate(source, ref=None, metrics=("fid",), opts: EvalOptions | None = None,
             net=None) -> dict:
    """Compute ``metrics`` for ``source`` against ``ref`` (specs or ImageSource objects).

    Returns ``{"metrics": {name: value or dict}, "protocol": {...}}``; every number's protocol
    says which feature net, resize mode, and how many images on each side it used.
    """
    from gankit.metrics.scores import (frechet_distance, inception_score,
                                       kernel_inception_distance, precision_recall)
    from gankit.metrics.sources import ImageSource, open_source

    opts = opts or EvalOptions()
    metrics = parse_metrics(metrics)
    out: dict = {}
    if "accuracy" in metrics:
        from gankit.metrics.classifier import run_classifier_accuracy

        if not isinstance(source, (str, Path)):
            raise GankitError("--metrics accuracy needs a run directory or checkpoint of a "
                              "model that classifies (e.g. sgan)")
        out["classifier_accuracy"] = run_classifier_accuracy(source, "test", opts.device)
        metrics = tuple(m for m in metrics if m != "accuracy")
        if not metrics:
            return {"metrics": out, "protocol": {}}
    if NEEDS_REF & set(metrics) and ref is None:
        raise GankitError(f"the metrics {', '.join(sorted(NEEDS_REF & set(metrics)))} compare "
                          "with real images: give --ref DATASET (e.g. cifar10:train)")
    src = source if isinstance(source, ImageSource) else open_source(source, opts.device)
    num = min(opts.num, len(src))
    if num < opts.num:
        log.warning("%s has %d images, fewer than the %d asked for", src.describe(), num,
                    opts.num)
    net = net or build_feature_net(opts)
    if "coverage" in metrics and not net.classifier:
        log.warning("class coverage uses the %s net's %d classes", net.name, net.num_classes)
    fake = source_features(src, net, num, opts, desc=f"features {src.describe()}")
    protocol = {**net.protocol(), "source": src.describe(), "num_source": num}
    real = None
    if ref is not None and NEEDS_REF & set(metrics):
        rsrc = ref if isinstance(ref, ImageSource) else open_source(ref, opts.device)
        num_ref = len(rsrc) if opts.num_ref <= 0 else min(opts.num_ref, len(rsrc))
        real = source_features(rsrc, net, num_ref, opts, desc=f"features {rsrc.describe()}")
        protocol.update(reference=rsrc.describe(), num_reference=num_ref)
    prefix = "classifier_" if net.classifier else ""
    for m in metrics:
        if m == "fid":
            out[prefix + "fid"] = frechet_distance(fake["mu"], fake["sigma"], real["mu"],
                                                   real["sigma"])
        elif m == "is":
            mean, std = inception_score(fake["logits"], opts.is_splits)
            out[prefix + "is"] = {"mean": mean, "std": std, "splits": opts.is_splits}
        elif m == "kid":
            mean, std, size = kernel_inception_distance(
                fake["pool"], real["pool"], opts.kid_subsets, opts.kid_subset_size)
            out[prefix + "kid"] = {"mean": mean, "std": std, "subsets": opts.kid_subsets,
                                   "subset_size": size}
        elif m == "pr":
            p, r = precision_recall(real["pool"], fake["pool"], opts.pr_k)
            out[prefix + "pr"] = {"precision": p, "recall": r, "k": opts.pr_k}
        elif m == "coverage":
            from gankit.metrics.mnist_net import class_coverage

            out["coverage"] = class_coverage(fake["logits"], net.num_classes)
    return {"metrics": out, "protocol": protocol}


def format_result(result: dict) -> str:
    """Human-readable lines: every number followed by its protocol."""
    p = result["protocol"]
    proto = ""
    if p:
        side = f"{p['num_source']} images of {p['source']}"
        if "reference" in p:
            side += f" vs {p['num_reference']} images of {p['reference']}"
        proto = f"[{p['feature_net']}; resize {p['resize']}; {side}]"
    lines = []
    for name, v in result["metrics"].items():
        if name == "classifier_accuracy":
            lines.append(f"{'accuracy':<14} {v['accuracy']:.4f} ({v['errors']} errors in "
                         f"{v['examples']})  [classify() at step {v['step']}; "
                         f"{v['examples']} images of {v['dataset']}]")
            continue
        if isinstance(v, dict):
            if "mean" in v:
                extra = ", ".join(f"{k}={w}" for k, w in v.items() if k not in ("mean", "std"))
                val = f"{v['mean']:.6g} ± {v['std']:.3g} ({extra})"
            else:
                val = ", ".join(f"{k}={w:.6g}" if isinstance(w, float) else f"{k}={w}"
                                for k, w in v.items())
        else:
            val = f"{v:.6g}"
        lines.append(f"{name:<14} {val}  {proto}")
    return "\n".join(lines)
