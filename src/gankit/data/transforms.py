"""Load-time transforms: channel conversion, centre crop, resize and limit.

These run once, when a dataset is loaded, on uint8 images; what the trainer sees afterwards is a
fixed uint8 N x C x H x W tensor (random flips happen per batch in :class:`ImageDataset`).

Two paths give the same geometry:

- :func:`transform_images` for whole uint8 tensors (MNIST, CIFAR-10, npz files): crop with
  slicing, resize with ``torch.nn.functional.interpolate(mode="bicubic", antialias=True)``.
- :func:`pil_to_array` for single decoded files (folders, CelebA): Pillow's LANCZOS resize,
  which is antialiased when it shrinks.

The centred square is ``center_crop`` pixels of the *source* image (clamped to the shorter side);
``center_crop = 0`` means the largest centred square. Its top-left corner is
``((h - c) // 2, (w - c) // 2)``.

Colour conversion to one channel uses ITU-R 601-2 luma, as Pillow's ``convert("L")`` does:
``L = (299 R + 587 G + 114 B) / 1000``; one channel to three repeats it.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gankit.errors import DataError

_RESIZE_CHUNK = 4096  # images per interpolate call: bounds the float32 working memory


def crop_box(h: int, w: int, center_crop: int) -> tuple[int, int, int]:
    """(top, left, size) of the centred square used for an h x w image."""
    c = min(h, w) if center_crop <= 0 else min(center_crop, h, w)
    return (h - c) // 2, (w - c) // 2, c


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert uint8 N x C x H x W to ``channels`` (1 or 3; 0 leaves them as they are)."""
    c = images.shape[1]
    if channels in (0, c):
        return images
    if channels == 3 and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    if channels == 1 and c == 3:
        w = torch.tensor([299, 587, 114], dtype=torch.int32).view(1, 3, 1, 1)
        grey = (images.to(torch.int32) * w).sum(1, keepdim=True).add_(500).div_(
            1000, rounding_mode="floor")
        return grey.to(torch.uint8)
    raise DataError(f"cannot convert {c}-channel images to {channels} channels")


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize square uint8 N x C x S x S images to ``size`` (bicubic, antialiased)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty(images.shape[0], images.shape[1], size, size, dtype=torch.uint8)
    for i in range(0, images.shape[0], _RESIZE_CHUNK):
        x = images[i:i + _RESIZE_CHUNK].float()
        y = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True,
                          align_corners=False)
        out[i:i + _RESIZE_CHUNK] = y.round_().clamp_(0, 255).to(torch.uint8)
    return out


def transform_images(images: torch.Tensor, *, resolution: int = 0, channels: int = 0,
                     center_crop: int = 0) -> torch.Tensor:
    """Apply the load-time transforms of a :class:`~gankit.config.DataConfig` to a tensor.

    ``images`` is uint8 N x C x H x W. Non-square images and an explicit ``center_crop`` are
    cropped to a centred square; ``resolution`` > 0 resizes to that size (0 keeps the size);
    ``channels`` 1 or 3 converts (0 keeps).
    """
    images = to_channels(images, channels)
    h, w = images.shape[-2:]
    top, left, c = crop_box(h, w, center_crop)
    if (c, c) != (h, w):
        images = images[:, :, top:top + c, left:left + c]
    if resolution and resolution != c:
        images = resize_images(images, resolution)
    return images.contiguous()


# --------------------------------------------------------------------------- Pillow

def _sixteen_bit_to_l(img):
    """16-bit (I;16*, I) or float (F) greyscale -> 8-bit L, scaling the full range."""
    from PIL import Image

    arr = np.asarray(img)
    if img.mode == "F":
        arr = arr.astype(np.float64)
        if arr.size and np.nanmax(arr) <= 1.0:  # float images are usually in [0, 1]
            arr = arr * 255.0
        return Image.fromarray(np.nan_to_num(arr).clip(0, 255).round().astype(np.uint8), "L")
    # 16-bit PNG/TIFF: 0..65535 -> 0..255 with rounding (65535 / 257 = 255)
    arr = arr.astype(np.int64).clip(0, 65535)
    return Image.fromarray(((arr + 128) // 257).astype(np.uint8), "L")


def _flatten_alpha(img, background: int = 255):
    """Composite an image with alpha onto a white background; returns L or RGB."""
    from PIL import Image

    if img.mode in ("LA", "La"):
        img = img.convert("LA")
        bg = Image.new("L", img.size, background)
        bg.paste(img.getchannel("L"), mask=img.getchannel("A"))
        return bg
    img = img.convert("RGBA")
    bg = Image.new("RGB", img.size, (background,) * 3)
    bg.paste(img.convert("RGB"), mask=img.getchannel("A"))
    return bg


def normalize_mode(img):
    """Any Pillow image -> mode L (greyscale sources) or RGB (everything else).

    - ``1`` (bilevel) -> L; ``I;16``/``I`` (16-bit) -> L scaled by 1/257; ``F`` -> L
    - ``LA`` and ``RGBA``, ``PA`` and ``P`` with a transparent colour: composited on **white**
      (so transparent backgrounds of icons and sprites become white, as most viewers show them,
      instead of whatever colour the invisible pixels happen to hold)
    - ``P`` -> RGB; ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` -> RGB (Pillow's conversion)
    """
    mode = img.mode
    if mode == "L" or mode == "RGB":
        return img
    if mode == "1":
        return img.convert("L")
    if mode.startswith("I") or mode == "F":
        return _sixteen_bit_to_l(img)
    if mode in ("LA", "La", "RGBA", "RGBa", "PA"):
        return _flatten_alpha(img)
    if mode == "P":
        if "transparency" in img.info:
            return _flatten_alpha(img.convert("RGBA"))
        return img.convert("RGB")
    return img.convert("RGB")


def pil_to_array(img, *, resolution: int, channels: int, center_crop: int) -> np.ndarray:
    """Decode, normalise, crop and resize one opened Pillow image -> H x W x C uint8.

    ``resolution`` must be > 0 here (folders decide it before decoding). ``channels`` 0 keeps
    the source's kind (L -> 1 channel, anything in colour -> 3). ``img`` itself may be
    changed (rotated in place by its EXIF orientation): pass an image you are done with.
    """
    arr = np.asarray(fit_image(img, resolution=resolution, channels=channels,
                               center_crop=center_crop), dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def write_planes(img, out: np.ndarray, mirror: bool = False) -> None:
    """Copy an L or RGB Pillow image into ``out`` (C x H x W uint8, C = its bands), mirrored
    left-right when ``mirror``: one plane at a time, which is cheaper than transposing an
    H x W x C array into C x H x W."""
    from PIL import Image

    if mirror:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    w, h = img.size
    bands = img.getbands()
    if len(bands) == 1:
        out[0] = np.frombuffer(img.tobytes(), np.uint8).reshape(h, w)
        return
    for c, band in enumerate(bands):
        out[c] = np.frombuffer(img.tobytes("raw", band), np.uint8).reshape(h, w)


def fit_image(img, *, resolution: int, channels: int, center_crop: int):
    """:func:`pil_to_array`'s image before it becomes an array: L or RGB Pillow image,
    ``resolution`` pixels square."""
    from PIL import Image, ImageOps

    w0, h0 = img.size
    top, left, c = crop_box(h0, w0, center_crop)
    if img.format == "JPEG" and c > resolution:
        # let libjpeg decode at 1/2, 1/4 or 1/8 scale where that still leaves >= resolution
        # pixels across the crop: several times faster for big photos, same final quality
        s = resolution / c
        img.draft(img.mode, (math.ceil(w0 * s), math.ceil(h0 * s)))
    # phone photos store their rotation in EXIF (in place: no copy of an unrotated image)
    ImageOps.exif_transpose(img, in_place=True)
    img = normalize_mode(img)
    w, h = img.size
    if (w, h) != (w0, h0):  # draft scaling or an EXIF rotation changed the size
        f = min(w, h) / min(w0, h0)
        top, left, c = crop_box(h, w, round(center_crop * f) if center_crop > 0 else 0)
    if (left, top, c, c) != (0, 0, w, h):  # (cropping to the whole image would copy it)
        img = img.crop((left, top, left + c, top + c))
    if c != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
    if channels == 1 and img.mode != "L":
        img = img.convert("L")
    elif channels == 3 and img.mode != "RGB":
        img = img.convert("RGB")
    return img


def finish(images: torch.Tensor, labels: torch.Tensor | None, cfg, *,
           class_names: list[str] | None = None, source: str = "",
           num_classes: int | None = None, transform: bool = True):
    """Apply ``cfg``'s limit, labels, crop, resize and channels; wrap as an ImageDataset.

    ``images`` is uint8 N x C x H x W. ``transform=False`` skips crop/resize/channels for
    images that were already brought to shape while decoding (folders).
    """
    from gankit.data.base import ImageDataset

    if cfg.limit:
        images = images[:cfg.limit]
        labels = None if labels is None else labels[:cfg.limit]
    if not cfg.labels or labels is None:
        labels, class_names, num_classes = None, None, 0
    elif num_classes is None and class_names:
        num_classes = max(len(class_names), int(labels.max()) + 1)
    if transform:
        images = transform_images(images, resolution=cfg.resolution, channels=cfg.channels,
                                  center_crop=cfg.center_crop)
    return ImageDataset(images.contiguous(), labels, class_names=class_names, flip=cfg.flip,
                        source=source, num_classes=num_classes)
