"""Built-in image-to-image sets made from the data we ship or can read offline.

* ``maps``: the paired maps subset (aerial photo | Google map, 100 pairs) in
  ``$GANKIT_DATA/pix2pix_maps_subset``; the last 10 pairs are the test split.
* ``maps-unpaired``: the same images as two unpaired domains; photos from the first half of
  the training pairs, maps from the second half, so no map has its own photo in training.
* ``edges2fashion``: A = edge map (black lines on white) computed from a Fashion-MNIST item
  with a Sobel filter, B = the item; 32x32 greyscale (28x28 padded by 2).
* ``digits-style``: unpaired; A = MNIST digits (white on black, RGB), B = *other* MNIST digits
  drawn in another style (warm-coloured strokes on a cool-coloured background, colours drawn
  per image from a seeded generator); 32x32 RGB. The digit labels are kept (``labels_A``,
  ``labels_B``) so that evaluation can ask a classifier whether a translation kept the digit.
* ``synthetic-paired:N`` / ``synthetic-unpaired:N``: random images, no files (tests).

Options follow the name: ``maps:jitter=1.12&direction=BtoA&test=10&rot90=1``. MNIST and
Fashion-MNIST come from the data layer's built-in readers (search paths, downloads).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from gankit.data.paired import (DEFAULT_JITTER, PairedDataset, UnpairedDataset, _load_size,
                                _paired_from, _split_files, _take_options, data_root,
                                list_images, parse_options, read_side_by_side, synthetic_paired,
                                synthetic_unpaired)
from gankit.errors import DataError
from gankit.registry import DATASETS

if TYPE_CHECKING:  # pragma: no cover
    from gankit.config import DataConfig

def _check_channels(cfg: DataConfig, native: int, name: str) -> None:
    if cfg.channels not in (0, native):
        raise DataError(f"{name} has {native} channel(s); leave data.channels at 0 or {native}")


MAPS_DIR = "pix2pix_maps_subset"
MAPS_TEST = 10


def _maps_files(cfg: DataConfig, n_test: int) -> list[Path]:
    files = list_images(data_root(cfg, MAPS_DIR, "the pix2pix maps subset") / "train")
    return _split_files(files, n_test, cfg.split, "maps")


@DATASETS.register("maps")
def maps(arg: str, cfg: DataConfig) -> PairedDataset:
    """Aerial photo (A) -> Google map (B), 100 pairs; pairs 91..100 are the test split.

    ``data.resolution`` 0 means 256 (pix2pix's size); the originals are 600 x 600 per half.
    """
    _check_channels(cfg, 3, "maps")
    _, opts = parse_options(arg, builtin=True)
    opts = _take_options(opts, {"jitter": DEFAULT_JITTER, "direction": "AtoB",
                                "test": MAPS_TEST, "rot90": 0}, "maps")
    files = _maps_files(cfg, opts["test"])
    res = cfg.resolution or 256
    A, B = read_side_by_side(files, _load_size(res, opts["jitter"], cfg.split), 3)
    return _paired_from(A, B, cfg, opts, res, f"{files[0].parent} ({cfg.split})")


@DATASETS.register("maps-unpaired")
def maps_unpaired(arg: str, cfg: DataConfig) -> UnpairedDataset:
    """The maps pairs as two unpaired domains: photos of one half, maps of the other half."""
    _check_channels(cfg, 3, "maps-unpaired")
    _, opts = parse_options(arg, builtin=True)
    opts = _take_options(opts, {"direction": "AtoB", "test": MAPS_TEST}, "maps-unpaired")
    files = _maps_files(cfg, opts["test"])
    res = cfg.resolution or 256
    A, B = read_side_by_side(files, res, 3)
    if cfg.split == "train":  # break the pairing: photos from the first half, maps the second
        h = len(files) // 2
        A, B = A[:h], B[h:]
    if opts["direction"] == "BtoA":
        A, B = B, A
    if cfg.limit:
        A, B = A[:cfg.limit], B[:cfg.limit]
    return UnpairedDataset(A, B, flip=cfg.flip, source=f"{files[0].parent} ({cfg.split})")


def _idx_split(cfg: DataConfig, name: str):
    """Images (N x 28 x 28 uint8), labels and source of the built-in ``mnist`` /
    ``fashion-mnist`` set, found (or downloaded) by the data layer for ``cfg.split``."""
    import dataclasses

    plain = dataclasses.replace(cfg, dataset=name, resolution=0, channels=0, center_crop=0,
                                limit=0, labels=True, flip=False)
    ds = DATASETS.get(name)("", plain)
    return ds.images[:, 0], ds.labels, ds.source


def sobel_edges(x: torch.Tensor, threshold: float = 0.25) -> torch.Tensor:
    """Binary edge maps of uint8 N x 1 x H x W images: 255 background, 0 on edges.

    Sobel gradient magnitude of the lightly blurred image, relative to its per-image maximum,
    thresholded: a cheap stand-in for the HED edges pix2pix's edges2shoes used.
    """
    f = x.float() / 255.0
    blur = torch.tensor([1.0, 2.0, 1.0])
    k = (blur[:, None] * blur[None, :]) / 16
    f = F.conv2d(F.pad(f, (1, 1, 1, 1), mode="replicate"), k.view(1, 1, 3, 3))
    gx = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    pad = F.pad(f, (1, 1, 1, 1), mode="replicate")
    mx = F.conv2d(pad, gx.view(1, 1, 3, 3))
    my = F.conv2d(pad, gx.t().reshape(1, 1, 3, 3))
    mag = (mx ** 2 + my ** 2).sqrt()
    mag = mag / mag.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)
    return torch.where(mag > threshold, 0, 255).to(torch.uint8)


def _pad32(x: torch.Tensor, value: int) -> torch.Tensor:
    return F.pad(x, (2, 2, 2, 2), value=value)


@DATASETS.register("edges2fashion")
def edges2fashion(arg: str, cfg: DataConfig) -> PairedDataset:
    """Fashion-MNIST edges (A) -> items (B), 32 x 32 greyscale, paired, train/test splits."""
    _check_channels(cfg, 1, "edges2fashion")
    _, opts = parse_options(arg, builtin=True)
    opts = _take_options(opts, {"direction": "AtoB", "jitter": 1.0}, "edges2fashion")
    x, _, folder = _idx_split(cfg, "fashion-mnist")
    if cfg.limit:
        x = x[:cfg.limit]
    items = _pad32(x[:, None], 0)
    edges = sobel_edges(items)
    if cfg.resolution not in (0, 32):
        raise DataError("edges2fashion is 32 x 32; leave data.resolution at 0 or 32")
    size = _load_size(32, opts["jitter"], cfg.split)
    if size != 32:
        items = F.interpolate(items.float(), size=size, mode="bilinear", align_corners=False
                              ).round().clamp(0, 255).to(torch.uint8)
        edges = F.interpolate(edges.float(), size=size, mode="nearest").to(torch.uint8)
    return _paired_from(edges, items, cfg, opts, 32, f"{folder} ({cfg.split}, Sobel edges)")


def style_digits(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Digits (uint8 N x 1 x H x W, white on black) -> RGB in the B style.

    Each image gets a cool background colour and warm stroke colour drawn around fixed
    centres; the stroke mask is the digit's own intensity, so strokes keep their shape.
    """
    n = x.shape[0]
    m = x.float() / 255.0
    bg = torch.tensor([0.10, 0.35, 0.55]) + 0.10 * (torch.rand(n, 3, generator=gen) - 0.5)
    fg = torch.tensor([0.98, 0.78, 0.20]) + 0.10 * (torch.rand(n, 3, generator=gen) - 0.5)
    out = (1 - m) * bg.view(n, 3, 1, 1) + m * fg.view(n, 3, 1, 1)
    return (out.clamp(0, 1) * 255).round().to(torch.uint8)


@DATASETS.register("digits-style")
def digits_style(arg: str, cfg: DataConfig) -> UnpairedDataset:
    """MNIST digits (A, white on black) <-> other MNIST digits in a coloured style (B).

    A takes the even-numbered images of the split, B the odd-numbered ones, so the two
    domains share no image: the task is truly unpaired. 32 x 32 RGB.
    """
    _check_channels(cfg, 3, "digits-style")
    _, opts = parse_options(arg, builtin=True)
    opts = _take_options(opts, {"direction": "AtoB"}, "digits-style")
    x, y, folder = _idx_split(cfg, "mnist")
    if cfg.resolution not in (0, 32):
        raise DataError("digits-style is 32 x 32; leave data.resolution at 0 or 32")
    x = _pad32(x[:, None], 0)
    xa, ya, xb, yb = x[0::2], y[0::2], x[1::2], y[1::2]
    if cfg.limit:
        xa, ya, xb, yb = xa[:cfg.limit], ya[:cfg.limit], xb[:cfg.limit], yb[:cfg.limit]
    gen = torch.Generator().manual_seed(12345 + {"train": 0, "test": 1, "all": 2}[cfg.split])
    A, B = xa.expand(-1, 3, -1, -1).contiguous(), style_digits(xb, gen)
    if opts["direction"] == "BtoA":
        A, B, ya, yb = B, A, yb, ya
    return UnpairedDataset(A, B, flip=False, source=f"{folder} ({cfg.split}, styled)",
                           labels_A=ya, labels_B=yb)



@DATASETS.register("synthetic-paired")
def synthetic_paired_spec(arg: str, cfg: DataConfig) -> PairedDataset:
    """Random aligned pairs for tests (synthetic-paired:N; B = the negative of A)."""
    n = int(arg or 16)
    res, ch = cfg.resolution or 32, cfg.channels or 3
    size = _load_size(res, DEFAULT_JITTER, cfg.split)
    ds = synthetic_paired(n, ch, res, load_size=size)
    ds.flip = cfg.flip
    return ds


@DATASETS.register("synthetic-unpaired")
def synthetic_unpaired_spec(arg: str, cfg: DataConfig) -> UnpairedDataset:
    """Random unpaired domains for tests (synthetic-unpaired:N; dark A, bright B)."""
    n = int(arg or 16)
    return synthetic_unpaired(n, n - n // 3, cfg.channels or 3, cfg.resolution or 32)
