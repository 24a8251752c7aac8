"""Image I/O and grids with Pillow and numpy (no torchvision)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.utils.tensors import to_uint8
from gankit.utils.io import atomic_write


def make_grid(images: torch.Tensor, nrow: int | None = None, padding: int = 2,
              pad_value: int = 0) -> np.ndarray:
    """Tile images (N x C x H x W, float in [-1, 1] or uint8) into one H x W x C uint8 array.

    ``nrow`` is the number of images per row (default: a square-ish grid).
    """
    if images.dtype != torch.uint8:
        images = to_uint8(images)
    images = images.cpu()
    n, c, h, w = images.shape
    nrow = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    grid = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding, c),
                   pad_value, np.uint8)
    arr = images.permute(0, 2, 3, 1).numpy()
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y:y + h, x:x + w] = arr[i]
    return grid


def array_to_pil(arr: np.ndarray) -> Image.Image:
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    return Image.fromarray(arr)


def save_image(arr_or_tensor, path: str | Path) -> Path:
    """Save an H x W x C uint8 array (or one C x H x W image tensor) atomically as PNG/JPEG."""
    if isinstance(arr_or_tensor, torch.Tensor):
        t = arr_or_tensor if arr_or_tensor.dtype == torch.uint8 else to_uint8(arr_or_tensor)
        arr_or_tensor = t.cpu().permute(1, 2, 0).numpy()
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP"}.get(
        Path(path).suffix.lower(), "PNG")
    image = array_to_pil(arr_or_tensor)
    return atomic_write(path, lambda f: image.save(f, format=fmt))


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    return save_image(make_grid(images, nrow), path)


def triplet_grid(cols: list[torch.Tensor], n: int = 8) -> torch.Tensor:
    """Interleave columns (each N x C x H x W) row by row: [c0_0, c1_0, c2_0, c0_1, ...]."""
    cols = [c[:n].detach().float().cpu() for c in cols]
    return torch.stack(cols, 1).flatten(0, 1)
