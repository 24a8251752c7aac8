"""Translate a user's images with a trained pix2pix / CycleGAN model.

:func:`translate_images` takes any model with the ``translate`` capability (a method
``translate(x, direction)`` on float N x C x R x R in [-1, 1]) and a file or folder of images
of any size and colour mode. Each image is

1. decoded with Pillow (grey, RGB, RGBA, palette...); transparency is composited on white and
   the image converted to the model's channels (grey <-> RGB);
2. resized to the model's square resolution, or to ``size`` when given (bicubic; the aspect
   ratio is not kept, as in pix2pix and CycleGAN training, which resize whole images to a
   square). ``size`` is for fully convolutional models trained on crops of larger images
   (``maps-pix2pix``: 128-px crops of maps loaded at 256, so photos should be translated at
   256); it must suit the generator (a multiple of a U-Net's training resolution);
3. translated in batches;
4. resized back to its original width x height, given back its alpha channel if it had one
   and the output format keeps alpha, and written under the same file name in ``out``.

A file that cannot be decoded is skipped and reported with the reason (the run continues).
An optional comparison sheet shows input | output side by side at the model's resolution.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.data.base import to_float, to_uint8
from gankit.errors import DataError, GankitError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm",
              ".pgm", ".pnm"}
# formats Pillow can write under the same name; others are written as PNG with a note
_WRITABLE = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP", ".webp": "WEBP",
             ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF", ".ppm": "PPM", ".pgm": "PPM",
             ".pnm": "PPM"}
_ALPHA_OK = {"PNG", "WEBP", "TIFF"}


@dataclass
class TranslateReport:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)   # (file, reason)
    ignored: list[str] = field(default_factory=list)               # not image files
    sheet: Path | None = None

    def summary(self) -> str:
        lines = [f"translated {len(self.written)} image(s)"
                 + (f" into {self.written[0].parent}" if self.written else "")]
        for name, why in self.skipped:
            lines.append(f"skipped {name}: {why}")
        if self.ignored:
            lines.append(f"ignored {len(self.ignored)} non-image file(s): "
                         f"{', '.join(self.ignored[:5])}{' ...' if len(self.ignored) > 5 else ''}")
        if self.sheet:
            lines.append(f"comparison sheet: {self.sheet}")
        return "\n".join(lines)


@dataclass
class _Item:
    path: Path
    size: tuple[int, int]          # original (width, height)
    alpha: np.ndarray | None       # original alpha channel, H x W uint8
    tensor: torch.Tensor           # C x R x R float in [-1, 1]


def _decode(path: Path, channels: int, resolution: int) -> _Item:
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            size = im.size
            alpha = None
            if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                alpha = np.asarray(rgba.getchannel("A"))
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, rgba)
            if im.mode in ("I", "I;16", "F"):  # 16-bit / float grey: scale to 8 bits
                arr = np.asarray(im, dtype=np.float64)
                hi = arr.max() or 1.0
                im = Image.fromarray((arr / hi * 255).round().astype(np.uint8))
            im = im.convert("L" if channels == 1 else "RGB")
            im = im.resize((resolution, resolution), Image.BICUBIC)
            arr = np.asarray(im, dtype=np.uint8)
    except Image.DecompressionBombError as e:
        raise DataError(f"too large to decode safely ({e})") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        raise DataError(f"not a readable image ({e})") from None
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    t = to_float(torch.from_numpy(arr.copy()).permute(2, 0, 1))
    return _Item(path, size, alpha, t)


def _encode(img: torch.Tensor, item: _Item, out: Path) -> Path:
    """Write one C x R x R float image, resized back to the original size, atomically."""
    from PIL import Image

    from gankit.utils.io import atomic_write

    arr = to_uint8(img).permute(1, 2, 0).numpy()
    im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    if im.size != item.size:
        im = im.resize(item.size, Image.BICUBIC)
    target = out / item.path.name
    fmt = _WRITABLE.get(item.path.suffix.lower())
    if fmt is None:
        target, fmt = target.with_suffix(target.suffix + ".png"), "PNG"
    if item.alpha is not None and fmt in _ALPHA_OK:
        im = im.convert("RGBA" if im.mode == "RGB" else "LA")
        im.putalpha(Image.fromarray(item.alpha))
    kw: dict[str, Any] = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    atomic_write(target, lambda f: im.save(f, format=fmt, **kw))
    return target


def list_inputs(source: Path) -> tuple[list[Path], list[str]]:
    """Image files to translate (a single file, or a folder's files sorted), and ignored names."""
    if source.is_file():
        return [source], []
    if not source.is_dir():
        raise DataError(f"{source} does not exist; give an image file or a folder of images")
    files, ignored = [], []
    for p in sorted(source.iterdir()):
        if not p.is_file() or p.name.startswith("."):
            continue
        if p.suffix.lower() in IMAGE_EXTS:
            files.append(p)
        else:
            ignored.append(p.name)
    if not files:
        raise DataError(f"no image files ({', '.join(sorted(IMAGE_EXTS))}) in {source}")
    return files, ignored


def translate_images(model: Any, source: str | Path, out: str | Path, direction: str = "AtoB",
                     sheet: str | Path | None = None, batch_size: int = 16,
                     sheet_rows: int = 16, size: int = 0) -> TranslateReport:
    """Translate the image file or folder ``source`` into folder ``out`` (see module doc).

    ``model`` needs ``translate(x, direction)``, ``info.channels`` and ``info.resolution``.
    ``size`` (0 = the model's resolution) is the square size images are translated at.
    Returns a :class:`TranslateReport` of written, skipped and ignored files.
    """
    if not hasattr(model, "translate"):
        raise GankitError(f"model {getattr(getattr(model, 'cfg', None), 'name', model)!r} "
                          f"cannot translate images (it has no translate capability)")
    if direction not in ("AtoB", "BtoA"):
        raise GankitError(f"--direction must be AtoB or BtoA, got {direction!r}")
    source, out = Path(source), Path(out)
    files, ignored = list_inputs(source)
    src_dir = source if source.is_dir() else source.parent
    if out.exists() and not out.is_dir():
        raise GankitError(f"--out {out} is a file; give a folder")
    if out.resolve() == src_dir.resolve():
        raise GankitError("--out is the input folder: translated images would overwrite the "
                          "inputs; choose another folder")
    out.mkdir(parents=True, exist_ok=True)
    if size < 0:
        raise GankitError(f"--size must be positive (or 0 for the model's resolution), "
                          f"got {size}")
    channels, res = model.info.channels, size or model.info.resolution
    report = TranslateReport(ignored=ignored)
    device = next(model.parameters()).device if hasattr(model, "parameters") else "cpu"
    sheet_in: list[torch.Tensor] = []
    sheet_out: list[torch.Tensor] = []
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        for i in range(0, len(files), batch_size):
            items = []
            for f in files[i:i + batch_size]:
                try:
                    items.append(_decode(f, channels, res))
                except DataError as e:
                    report.skipped.append((f.name, str(e)))
            if not items:
                continue
            x = torch.stack([it.tensor for it in items]).to(device)
            with torch.no_grad():
                y = model.translate(x, direction).float().clamp(-1, 1).cpu()
            for it, img in zip(items, y):
                try:
                    report.written.append(_encode(img, it, out))
                except (OSError, ValueError) as e:
                    report.skipped.append((it.path.name, f"could not write the output ({e})"))
            room = sheet_rows - len(sheet_in)
            if sheet and room > 0:
                sheet_in.extend(x[:room].cpu())
                sheet_out.extend(y[:room])
    finally:
        if hasattr(model, "train"):
            model.train(was_training)
    if sheet and sheet_in:
        from gankit.utils.images import save_grid

        pairs = torch.stack([t for pair in zip(sheet_in, sheet_out) for t in pair])
        report.sheet = save_grid(pairs, sheet, nrow=2)
    if not report.written:
        why = "; ".join(f"{n}: {r}" for n, r in report.skipped[:5])
        raise DataError(f"no image could be translated from {source} ({why})")
    return report


def load_translator(source: str | Path, device: str | None = "cpu") -> Any:
    """The model of a run directory, export folder or checkpoint, ready to ``translate``.

    Uses :func:`gankit.sampling.load_generator` (EMA weights when the run kept them) and checks
    that the model has the ``translate`` capability.
    """
    from gankit.sampling import load_generator

    gen = load_generator(source, device)
    if "translate" not in gen.capabilities:
        raise GankitError(f"{source} holds a {gen.cfg.model.name!r} model, which generates "
                          f"images from noise and cannot translate; use `gankit sample`")
    return gen.model
