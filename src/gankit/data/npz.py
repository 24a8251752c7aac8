"""``npz:PATH``: images and labels from a NumPy ``.npz`` file.

Expected keys:

- ``images``: uint8, N x H x W x C (C = 1 or 3), N x H x W (greyscale), or N x C x H x W when
  that reading is unambiguous (second axis 1 or 3 and last axis not 1, 3 or 4);
- ``labels`` (optional): integers >= 0, shape (N,);
- ``class_names`` or ``label_names`` (optional): strings, one per class.

This is the format ``gankit sample --npz`` writes, so generated samples can be loaded back.
The file is opened with ``allow_pickle=False``: an npz can never run code.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from gankit.data.transforms import finish
from gankit.errors import DataError
from gankit.registry import DATASETS

HELP = ("expected a .npz with uint8 'images' shaped N x H x W x C (C = 1 or 3) or N x H x W, "
        "and optionally integer 'labels' shaped (N,); e.g. "
        "np.savez(path, images=x.astype(np.uint8), labels=y)")


def images_to_nchw(arr: np.ndarray, where: str) -> np.ndarray:
    """Bring a uint8 image array to N x C x H x W, or raise a DataError naming ``where``."""
    if arr.dtype != np.uint8:
        raise DataError(f"{where}: 'images' has dtype {arr.dtype}; {HELP}. Convert floats in "
                        "[0, 1] with (x * 255).round().astype(np.uint8)")
    if arr.ndim == 3:
        return arr[:, None]
    if arr.ndim != 4:
        raise DataError(f"{where}: 'images' has shape {arr.shape}; {HELP}")
    if arr.shape[-1] in (1, 3):
        return arr.transpose(0, 3, 1, 2)
    if arr.shape[-1] == 4 and arr.shape[1] not in (1, 3):
        raise DataError(f"{where}: 'images' has 4 channels (RGBA?) in shape {arr.shape}; "
                        "drop the alpha channel (x[..., :3]) or composite it first")
    if arr.shape[1] in (1, 3) and arr.shape[-1] not in (1, 3, 4):
        return arr
    raise DataError(f"{where}: 'images' has shape {arr.shape}: cannot tell which axis holds "
                    f"1 or 3 channels; {HELP}")


def read_npz(path: str) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(images N x C x H x W uint8, labels int64 or None, class names) from an npz file."""
    if Path(path).is_file() and not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a readable .npz file (not a zip archive); {HELP}")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = set(z.files)
            if "images" not in keys:
                raise DataError(f"{path}: no 'images' array (it holds: "
                                f"{', '.join(sorted(keys)) or 'nothing'}); {HELP}")
            images = z["images"]
            labels = z["labels"] if "labels" in keys else None
            names_key = next((k for k in ("class_names", "label_names") if k in keys), None)
            names = [str(s) for s in z[names_key].tolist()] if names_key else []
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise DataError(f"{path}: not a readable .npz file ({e}); {HELP}") from None
    except ValueError as e:  # object arrays (needs pickle) and malformed members
        raise DataError(f"{path}: cannot read it without pickle ({e}); {HELP}") from None
    images = images_to_nchw(images, path)
    if images.shape[0] == 0:
        raise DataError(f"{path}: 'images' holds no images")
    if labels is not None:
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise DataError(f"{path}: 'labels' has shape {labels.shape}, expected "
                            f"({images.shape[0]},): one label per image")
        if not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{path}: 'labels' has dtype {labels.dtype}; expected integers")
        if labels.size and labels.min() < 0:
            raise DataError(f"{path}: 'labels' holds negative values; expected classes 0..K-1")
        labels = labels.astype(np.int64)
    return images, labels, names


@DATASETS.register("npz")
def npz_dataset(arg: str, cfg):
    """A .npz file with uint8 'images' (N x H x W x C) and optional integer 'labels'."""
    from gankit.data.folder import resolve_user_path

    if not arg:
        raise DataError("npz needs a path: dataset: npz:/path/to/file.npz")
    path = resolve_user_path(arg, kind="file", root=cfg.root)
    images, labels, names = read_npz(str(path))
    num_classes = None
    if labels is not None and names:
        num_classes = max(len(names), int(labels.max()) + 1)
    return finish(torch.from_numpy(np.ascontiguousarray(images)),
                  None if labels is None else torch.from_numpy(labels), cfg,
                  class_names=names, source=str(path), num_classes=num_classes)
