"""One attack report for several methods at once (what ``gankit attack`` runs).

:func:`load_inputs` reads a data set spec (``mnist:test``), a folder of images or one image
file; :func:`run_attacks` attacks them with each method at the same eps and measures, on the
images exactly as written (8-bit PNGs: adversarial pixels are rounded to the 1/255 grid inside
the eps-ball):

* ``clean_accuracy``: the target's accuracy on the clean images (null without labels);
* ``accuracy_under_attack``: its accuracy on the adversarial images;
* ``success_rate``: untargeted, the fraction of the examples the target classified correctly
  whose adversarial image it misclassifies; targeted to t, the fraction of examples of
  another class classified as t;
* ``linf_mean`` / ``linf_max`` / ``l2_mean``: norms of the perturbation in [0, 1] pixel units;
* ``images_per_s``: adversarial images per second of the attack itself (no I/O);
* ``transfer_rate``: black-box transfer to a second classifier that the attack never saw:
  among the examples where the attack fooled the target and the second classifier is right
  on the clean image, the fraction whose adversarial image fools the second classifier too.

Without labels (a plain folder of images) the target's clean predictions stand in for them:
an attack then succeeds when it changes the prediction.
"""
from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gankit.attacks.gradient import fgsm, pgd
from gankit.errors import GankitError

METHODS = ("advgan", "fgsm", "pgd")


@dataclass
class Inputs:
    """Clean images (float N x C x H x W in [0, 1]), labels (int64 N or None), a description."""

    x: torch.Tensor
    labels: torch.Tensor | None
    source: str


def load_inputs(spec: str, channels: int = 0, resolution: int = 0, limit: int = 0) -> Inputs:
    """Images to attack from a data set spec (``mnist:test``; a bare ``mnist`` is its test
    split), a folder or one image file, converted to ``channels`` and ``resolution`` (0 = as
    they are)."""
    from gankit.config import DataConfig
    from gankit.data import load_dataset

    p = Path(spec).expanduser()
    if p.is_file():
        from PIL import Image, UnidentifiedImageError

        from gankit.data.transforms import pil_to_array

        try:
            with Image.open(p) as img:
                arr = pil_to_array(img, resolution=resolution or min(img.size),
                                   channels=channels, center_crop=0)
        except (OSError, UnidentifiedImageError) as e:
            raise GankitError(f"{p} cannot be read as an image ({e})") from None
        x = torch.from_numpy(arr.copy()).permute(2, 0, 1)[None]
        return Inputs(x.float() / 255, None, str(p))
    dataset = f"folder:{p}" if p.is_dir() else spec
    if ":" not in dataset and not p.is_dir() and ("/" in spec or spec.startswith(".")):
        raise GankitError(f"{spec} does not exist; give a data set spec such as mnist:test, a "
                          f"folder of images or an image file")
    # a bare data set name means its test split: attacks are measured on held-out images
    ds = load_dataset(DataConfig(dataset=dataset, split="test", channels=channels,
                                 resolution=resolution, limit=limit, download=False))
    labels = ds.labels
    if labels is not None and p.is_dir():
        # class subfolders name the target's classes only when they are its class numbers
        names = ds.info.class_names
        if names and all(n.isdigit() for n in names):
            labels = torch.tensor([int(names[i]) for i in labels.tolist()])
        else:
            labels = None
    return Inputs(ds.images.float() / 255, labels, dataset)


def quantise(adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Round ``adv`` to the 8-bit grid without leaving the eps-ball around ``x`` (on the grid)."""
    q = (adv * 255).round()
    lo, hi = ((x - eps) * 255).ceil().clamp_min(0), ((x + eps) * 255).floor().clamp_max(255)
    return torch.minimum(torch.maximum(q, lo), hi) / 255


@torch.no_grad()
def predict(model, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    return torch.cat([model(x[i:i + batch_size]).argmax(1).cpu()
                      for i in range(0, len(x), batch_size)])


def make_methods(target, names: list[str], *, advgan: Callable | None, target_class: int | None,
                 pgd_steps: int, restarts: int, seed: int) -> dict[str, tuple[Callable, dict]]:
    """name -> (batch function (x01, y) -> adversarial x01, parameters to report)."""
    out = {}
    for name in names:
        if name == "advgan":
            if advgan is None:
                raise GankitError("--method advgan needs a trained advgan run (RUN_OR_TARGET); "
                                  "with a classifier alone use fgsm or pgd")
            out[name] = (lambda x, y, eps: advgan(x, eps), {"forward_passes": 1})
        elif name == "fgsm":
            out[name] = (lambda x, y, eps: fgsm(target, x, y, eps, target_class), {})
        elif name == "pgd":
            gen = torch.Generator().manual_seed(seed)
            out[name] = (lambda x, y, eps, g=gen: pgd(
                target, x, y, eps, steps=pgd_steps, restarts=restarts,
                target_class=target_class, generator=g if x.device.type == "cpu" else None),
                {"steps": pgd_steps, "restarts": restarts, "step_size": "2.5 eps / steps",
                 "random_start": True})
        else:
            raise GankitError(f"unknown attack method {name!r}: choose from {', '.join(METHODS)}")
    return out


def _rate(hits: torch.Tensor, mask: torch.Tensor) -> float | None:
    n = int(mask.sum())
    return float(hits[mask].float().mean()) if n else None


def run_attacks(target, inputs: Inputs, methods: dict[str, tuple[Callable, dict]], eps: float,
                out: str | Path | None, *, target_class: int | None = None, transfer=None,
                batch_size: int = 256, save_images: int = -1, device: str = "cpu",
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Attack ``inputs`` with every method; write images, sheets and ``report.json`` under
    ``out`` (None: write nothing) and return the report (see the module docstring).
    ``save_images``: how many adversarial PNGs to write per method (-1 = all)."""
    x = inputs.x
    y_clean = predict(target, x.to(device))
    have_labels = inputs.labels is not None
    y = inputs.labels.cpu() if have_labels else y_clean
    report: dict[str, Any] = {
        "input": inputs.source, "examples": len(x), "eps": eps, "target": target.describe(),
        "target_class": target_class,
        "labels": "data set" if have_labels else "the target's clean predictions",
        "clean_accuracy": float((y_clean == y).float().mean()) if have_labels else None,
        "pixels": "[0, 1]; metrics on the 8-bit images as written",
        "threads": torch.get_num_threads(), "device": str(device), **(extra or {})}
    if transfer is not None:
        t_clean = predict(transfer, x.to(device))
        report["transfer_target"] = transfer.describe()
        report["transfer_clean_accuracy"] = (float((t_clean == y).float().mean())
                                             if have_labels else None)
    report["methods"] = {}
    # success is counted over the examples an attack could flip: correctly classified
    # (untargeted), or of another class than the one asked for (targeted)
    eligible = (y_clean == y) if target_class is None else (y != target_class)
    for name, (fn, params) in methods.items():
        adv = torch.empty_like(x)
        t0 = time.perf_counter()
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            adv[i:i + batch_size] = fn(xb, yb, eps).detach().float().cpu()
        seconds = time.perf_counter() - t0
        adv = quantise(adv, x, eps)
        delta = adv - x
        pred = predict(target, adv.to(device))
        fooled = pred != y if target_class is None else pred == target_class
        row: dict[str, Any] = {
            **params, "seconds": round(seconds, 3),
            "images_per_s": round(len(x) / seconds, 1) if seconds > 0 else None,
            "accuracy_under_attack": float((pred == y).float().mean()) if have_labels else None,
            "success_rate": _rate(fooled, eligible), "eligible": int(eligible.sum()),
            "linf_mean": float(delta.flatten(1).abs().amax(1).mean()),
            "linf_max": float(delta.abs().max()) if delta.numel() else 0.0,
            "l2_mean": float(delta.flatten(1).norm(dim=1).mean())}
        if transfer is not None:
            t_pred = predict(transfer, adv.to(device))
            t_fooled = t_pred != y if target_class is None else t_pred == target_class
            t_ok = (t_clean == y) if target_class is None else (y != target_class)
            row["transfer_rate"] = _rate(t_fooled, fooled & eligible & t_ok)
            row["transfer_accuracy_under_attack"] = (float((t_pred == y).float().mean())
                                                     if have_labels else None)
        report["methods"][name] = row
        if out is not None:
            _write(Path(out), name, x, adv, y, y_clean, pred, eps, save_images)
    if out is not None:
        from gankit.utils.io import write_json

        write_json(Path(out) / "report.json", report)
    return report


def sheet(x: torch.Tensor, adv: torch.Tensor, eps: float, n: int = 10) -> torch.Tensor:
    """Rows clean | perturbation (amplified: -eps..eps as black..white) | adversarial, for the
    first ``n`` examples, as images in [-1, 1] for ``save_grid(..., nrow=n)``."""
    x, adv = x[:n], adv[:n]
    amp = ((adv - x) / max(eps, 1e-8)).clamp(-1, 1)
    return torch.cat([x * 2 - 1, amp, adv * 2 - 1])


def _write(out: Path, name: str, x, adv, y, y_clean, pred, eps: float, limit: int) -> None:
    from gankit.data.base import to_uint8
    from gankit.utils.images import array_to_pil, save_grid

    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    n = len(adv) if limit < 0 else min(limit, len(adv))
    width = max(5, int(math.log10(max(len(adv), 1))) + 1)
    rows = []
    for i in range(len(adv)):
        file = f"{i:0{width}d}.png"
        if i < n:  # plain writes: thousands of fsyncs would dominate the run
            array_to_pil(to_uint8(adv[i] * 2 - 1).permute(1, 2, 0).numpy()).save(folder / file)
        rows.append((file if i < n else "", i, int(y[i]), int(y_clean[i]), int(pred[i])))
    with open(folder / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "index", "label", "clean_prediction", "adversarial_prediction"])
        w.writerows(rows)
    k = min(10, len(adv))
    save_grid(sheet(x, adv, eps, k), out / f"{name}_sheet.png", nrow=k)


def format_report(report: dict[str, Any]) -> str:
    """A few lines for the terminal: one row per method."""
    def pct(v):
        return "   -  " if v is None else f"{100 * v:5.1f}%"

    lines = [f"{report['examples']} images from {report['input']}, eps {report['eps']}, "
             f"target {report['target']}"
             + (f", targeted to class {report['target_class']}"
                if report["target_class"] is not None else "")]
    if report.get("clean_accuracy") is not None:
        lines.append(f"clean accuracy {pct(report['clean_accuracy'])}")
    has_t = "transfer_target" in report
    if has_t:
        lines.append(f"transfer to {report['transfer_target']}")
    lines.append(f"{'method':8s} {'acc':>7s} {'success':>8s} {'Linf':>6s} {'L2':>6s} "
                 f"{'img/s':>9s}" + (f" {'transfer':>9s}" if has_t else ""))
    for name, r in report["methods"].items():
        ips = r["images_per_s"]
        lines.append(f"{name:8s} {pct(r['accuracy_under_attack']):>7s} "
                     f"{pct(r['success_rate']):>8s} {r['linf_mean']:6.3f} {r['l2_mean']:6.2f} "
                     f"{ips if ips is not None else '-':>9}"
                     + (f" {pct(r.get('transfer_rate')):>9s}" if has_t else ""))
    return "\n".join(lines)


def _is_checkpoint(path: Path) -> bool:
    """A torch.save archive (gankit checkpoints): data.pkl and no code/ folder, which
    TorchScript archives have. Anything else is tried as a TorchScript target."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    code = any("/code/" in n or n.startswith("code/") for n in names)
    return not code and any(n.endswith("data.pkl") for n in names)


@dataclass
class Source:
    """What ``gankit attack`` attacks with: the target, and an advgan generator if any."""

    target: Any
    advgan: Callable | None  # (x01, eps) -> adversarial x01
    eps: float | None        # the advgan run's trained eps
    channels: int
    resolution: int
    description: dict[str, Any]


def load_source(spec: str, target: str | None = None, device: str = "cpu") -> Source:
    """``spec``: an advgan run directory, export folder or checkpoint (its generator, attacking
    its own target unless ``target`` names another), or a target classifier spec alone."""
    from gankit.attacks.targets import GANKIT_NETS, LENET, load_target

    p = Path(spec).expanduser()
    is_run = p.is_dir() or (p.is_file() and _is_checkpoint(p))
    if not is_run:
        if target is not None and target != spec:
            raise GankitError(f"{spec} is a classifier, not an advgan run, so --target "
                              f"{target} has nothing to add; attack one target at a time")
        if spec not in GANKIT_NETS + (LENET,) and not spec.startswith("untrained") \
                and not p.exists():
            raise GankitError(f"{spec} does not exist; give an advgan run directory, export or "
                              f"checkpoint, a TorchScript classifier file, or one of "
                              f"{', '.join(GANKIT_NETS + (LENET,))}")
        t = load_target(spec, device=device)
        size = (t.channels, t.resolution)
        return Source(t, None, None, *size, {"target": t.describe()})
    from gankit.sampling.loading import load_generator

    gen = load_generator(p, device)
    if "attack" not in gen.capabilities:
        raise GankitError(f"{spec} is a {gen.cfg.model.name!r} run, which cannot attack; give "
                          f"an advgan run or a classifier (mnist, a TorchScript file)")
    model, G = gen.model, gen.G
    info = model.info
    t = load_target(target, channels=info.channels, device=device) if target else \
        model.target_net(device)
    trained = float(model.cfg.eps)

    def advgan(x01: torch.Tensor, eps: float) -> torch.Tensor:
        with torch.no_grad():
            adv = model.attack(x01, G)
        # the generator's bound is its trained eps; a smaller --eps projects onto that ball
        return adv if eps >= trained else (x01 + (adv - x01).clamp(-eps, eps)).clamp(0, 1)

    return Source(t, advgan, trained, info.channels, info.resolution,
                  {"run": str(p), "run_step": gen.step, "run_eps": trained,
                   "run_target": model.cfg.target, "run_target_class": model.cfg.target_class})


def default_transfer(target, channels: int, resolution: int) -> str | None:
    """The black-box transfer classifier for MNIST-shaped inputs: mnist-lenet (or gankit's
    mnist net when the target is mnist-lenet itself); none for other shapes."""
    from gankit.attacks.targets import LENET

    if (channels, resolution) != (1, 28):
        return None
    return "mnist" if target.name == LENET else LENET
