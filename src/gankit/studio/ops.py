"""What the studio does with a generator: each function returns images in [-1, 1].

These are thin adapters from the studio's JSON requests to the library's sampling functions;
the maths lives in :mod:`gankit.sampling`.
"""
from __future__ import annotations

import io
from typing import Any

import torch

from gankit.errors import GankitError

MAX_UPLOAD_BYTES = 10 * 2**20      # an upload larger than this is refused before it is read
MAX_UPLOAD_PIXELS = 4096 * 4096    # refused before decoding (decompression bombs)


class UploadError(GankitError):
    """An uploaded file that is too large or not an image."""

    status = 400


def decode_upload(data: bytes, channels: int, resolution: int,
                  crop: bool = False) -> torch.Tensor:
    """Validate and decode uploaded image bytes into 1 x C x R x R float in [-1, 1].

    Refuses more than :data:`MAX_UPLOAD_BYTES`, anything Pillow cannot decode, and images of
    more than :data:`MAX_UPLOAD_PIXELS` (checked from the header, before decoding).
    Transparency is composited on white; the image is converted to the model's channels and
    resized to its square resolution: whole, as the translation models were trained, or with
    ``crop`` centre-cropped to a square first, as ``gankit project`` reads images.
    """
    import warnings

    import numpy as np
    from PIL import Image

    if not data:
        raise UploadError("the upload is empty: choose an image file")
    if len(data) > MAX_UPLOAD_BYTES:
        raise UploadError(f"the upload is {len(data) / 2**20:.1f} MB; the limit is "
                          f"{MAX_UPLOAD_BYTES // 2**20} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                if w * h > MAX_UPLOAD_PIXELS or w < 1 or h < 1:
                    raise UploadError(f"the image is {w} x {h} pixels; the limit is "
                                      f"{MAX_UPLOAD_PIXELS:,} pixels")
                im.load()
                if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P"
                                                       and "transparency" in im.info):
                    rgba = im.convert("RGBA")
                    bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                    im = Image.alpha_composite(bg, rgba)
                im = im.convert("L" if channels == 1 else "RGB")
                if crop:
                    s = min(w, h)
                    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s,
                                  (h - s) // 2 + s))
                im = im.resize((resolution, resolution), Image.BICUBIC)
                arr = np.asarray(im, dtype=np.uint8)
    except UploadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UploadError("the image is too large to decode safely") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        why = "" if "cannot identify" in str(e) else f" ({e})"
        raise UploadError(f"the upload is not an image Pillow can read{why}; use PNG or "
                          f"JPEG") from None
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    x = torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 127.5 - 1
    return x.unsqueeze(0)


def _need(gen, capability: str, what: str) -> None:
    if capability not in gen.capabilities:
        raise GankitError(f"model {gen.cfg.model.name!r} cannot do {what} (capabilities: "
                          f"{', '.join(sorted(gen.capabilities))})")


def _latent_model(gen, what: str) -> None:
    if not gen.model.latent_dim or gen.info.kind != "image":
        raise GankitError(f"model {gen.cfg.model.name!r} has no image latent space for {what}")


def _options(gen, psi: float | None) -> dict[str, Any]:
    if psi is None:
        return {}
    _need(gen, "truncate", "truncation (psi)")
    return {"psi": float(psi)}


def sample(gen, seeds: list[int], class_id: int | None = None,
           psi: float | None = None) -> torch.Tensor:
    _latent_model(gen, "sampling")
    return gen.generate(seeds, class_id=class_id, **_options(gen, psi))


def interpolate(gen, seed_a: int, seed_b: int, t: float, mode: str = "slerp",
                class_id: int | None = None, psi: float | None = None) -> torch.Tensor:
    """The image at ``t`` in [0, 1] on the lerp/slerp path from z(seed_a) to z(seed_b)."""
    from gankit.sampling.interpolate import interpolate_at

    _latent_model(gen, "interpolation")
    if mode not in ("lerp", "slerp"):
        raise GankitError(f"mode must be lerp or slerp, not {mode!r}")
    if not 0.0 <= t <= 1.0:
        raise GankitError(f"t must be in [0, 1], got {t}")
    return interpolate_at(gen, [seed_a, seed_b], t, mode, class_id=class_id,
                          **_options(gen, psi))


def edit(gen, seed: int, direction: torch.Tensor, strength: float,
         class_id: int | None = None) -> torch.Tensor:
    """The image of ``seed`` moved by ``strength`` along the unit ``direction``."""
    from gankit.sampling.editing import walk

    _latent_model(gen, "latent editing")
    images, _ = walk(gen, [seed], direction, [float(strength)], class_id=class_id)
    return images


def mix(gen, seed: int, mix_seed: int, layers: tuple[int, int] | None = None) -> torch.Tensor:
    """Row: G(z_seed) | mixed | G(z_mix_seed), with the styles ``layers`` from mix_seed."""
    _need(gen, "mix", "style mixing")
    from gankit.sampling.grids import mixing_grid

    images, ncol = mixing_grid(gen, [seed], [mix_seed], mix_layers=layers)
    # the table is [blank, G(col)] / [G(row), mixed]: show row source, mix, column source
    return torch.stack([images[ncol], images[ncol + 1], images[1]])


def translate(gen, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
    _need(gen, "translate", "image translation")
    if direction not in ("AtoB", "BtoA"):
        raise GankitError(f"direction must be AtoB or BtoA, not {direction!r}")
    with torch.no_grad():
        return gen.model.translate(x.to(gen.device), direction).float().clamp(-1, 1).cpu()


def project(gen, x: torch.Tensor, steps: int = 100, class_id: int | None = None):
    """(reconstruction 1 x C x H x W, latent z, pixel MSE) of the upload projected into z."""
    from gankit.sampling.projection import project as project_fn

    _latent_model(gen, "projection")
    if not 1 <= steps <= 1000:
        raise GankitError(f"steps must be in 1..1000, got {steps}")
    res = project_fn(gen, x, steps=steps, class_id=class_id)
    return res.image, res.z, res.final_mse


def attack(gen, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
    """An advgan run's adversarial example of one image ``x`` (1 x C x R x R in [-1, 1]).

    Returns (clean | perturbation amplified to the full range | adversarial, as 3 x C x R x R
    in [-1, 1]) and the target classifier's prediction and confidence on both images. The
    adversarial image is on the 8-bit grid inside the eps-ball, as ``gankit attack`` writes it.
    """
    from gankit.attacks.runner import quantise, sheet

    _need(gen, "attack", "an adversarial example")
    model, eps = gen.model, float(gen.model.cfg.eps)
    target = model.target_net(gen.device)
    x01 = (x.to(gen.device).float() + 1) / 2
    with torch.no_grad():
        adv = quantise(model.attack(x01, gen.G), x01, eps)
        p = torch.cat([target(x01), target(adv)]).softmax(1).cpu()
    conf, pred = p.max(1)
    preds = {k: {"class": int(pred[i]), "confidence": round(float(conf[i]), 4)}
             for i, k in enumerate(("clean", "adversarial"))}
    return sheet(x01.cpu(), adv.cpu(), eps, 1), {"eps": eps, "target": model.cfg.target,
                                                 **preds}


def test_image(gen, index: int) -> tuple[torch.Tensor, int | None]:
    """Image ``index`` of the test split of the run's data set (1 x C x R x R in [-1, 1]) and
    its label (None when the set has none)."""
    from gankit.config import DataConfig
    from gankit.data import load_dataset

    info = gen.info
    ds = load_dataset(DataConfig(dataset=gen.cfg.data.dataset, split="test",
                                 resolution=info.resolution, channels=info.channels,
                                 limit=index + 1, download=False))
    if index >= len(ds.images):
        raise GankitError(f"the test split has {len(ds.images)} images; pick 0.."
                          f"{len(ds.images) - 1}")
    x = ds.images[index:index + 1].float() / 127.5 - 1
    return x, None if ds.labels is None else int(ds.labels[index])


def domain_predict(model, x: torch.Tensor) -> list[dict[str, Any]]:
    """A dann run's label classifier and domain classifier on images ``x`` (N x C x R x R in
    [-1, 1]): per image the predicted class and its probability, the ten (or K) class
    probabilities, and D's probability that the features come from the *target* domain."""
    if not hasattr(model, "domain_logits"):
        raise GankitError(f"model {model.cfg.name!r} has no domain classifier; the domain "
                          f"panel needs a dann run (gankit adapt / mnist-to-mnistm-dann)")
    x = x.float()
    probs = model.classify(x).float().softmax(1)
    p_target = torch.sigmoid(model.domain_logits(model.features(x)).float())
    conf, pred = probs.max(1)
    return [{"class": int(pred[i]), "confidence": round(float(conf[i]), 4),
             "probs": [round(float(p), 4) for p in probs[i]],
             "p_target": round(float(p_target[i]), 4)} for i in range(len(x))]


def domain_test_pair(cfg, index: int) -> tuple[torch.Tensor, list[int | None]]:
    """Image ``index`` of the source and of the target test split of a dann run's domain
    pair (2 x C x R x R in [-1, 1], source first) and their labels (None where unlabelled)."""
    import dataclasses

    from gankit.data import load_dataset

    # the whole split (limit 0: the run may have trained on a limit; labels of some sets
    # depend on how many images are drawn)
    ds = load_dataset(dataclasses.replace(cfg.data, split="test", limit=0, flip=False,
                                          download=False))
    if not hasattr(ds, "B"):
        raise GankitError(f"the run's data set {cfg.data.dataset!r} is not a domain pair")
    n = min(len(ds.A), len(ds.B))
    if index >= n:
        raise GankitError(f"the test splits have {n} images in both domains; pick 0..{n - 1}")
    x = torch.cat([ds.A[index:index + 1], ds.B[index:index + 1]]).float() / 127.5 - 1
    labels = [None if lab is None else int(lab[index]) for lab in (ds.labels_A, ds.labels_B)]
    return x, labels
