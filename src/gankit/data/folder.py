"""``folder:PATH``: any folder of images, decoded once and cached.

- Files ending in .png, .jpg, .jpeg, .webp or .bmp (any case) are images; hidden files and
  folders (name starting with ".") and other files are ignored.
- Two or more top-level subfolders holding images make a labelled set: each subfolder is a
  class (sorted by name -> labels 0..K-1) and files lying directly in PATH are ignored. With
  fewer subfolders every image below PATH is used, unlabelled.
- Each image is converted to L or RGB (see :func:`~gankit.data.transforms.normalize_mode`:
  alpha is composited on white, 16-bit is scaled to 8-bit, CMYK goes to RGB), rotated by its
  EXIF orientation, cropped to a centred square (``data.center_crop``, 0 = the largest) and
  resized with Pillow's LANCZOS filter to ``data.resolution``. Resolution 0 uses the most
  common crop size among the images; channels 0 gives 1 channel when every image is greyscale,
  else 3.
- Unreadable files (empty, truncated, corrupt, not really images, more than
  :data:`MAX_PIXELS` pixels) are skipped with a single warning that counts them and names a
  few; loading fails only when no image is left.
- ``data.limit`` keeps the first N readable images in sorted path order.

Sets too large for memory are streamed instead (``data.stream``, see :mod:`gankit.data.stream`,
which registers the ``folder`` builder).

Decoding thousands of JPEGs takes seconds, so the decoded array is cached in
``<user cache>/gankit/decoded/<key>.npz``, where the key is a hash of the folder's absolute
path, every image's relative path, size and mtime, and the transform settings. Any change to a
file or a setting gives a new key; a cache file that cannot be read is deleted and rebuilt.
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from gankit.data.sources import cache_dir, data_roots
from gankit.data.transforms import finish, pil_to_array
from gankit.errors import DataError

log = logging.getLogger("gankit.data")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
#: Images with more pixels than this are skipped (decompression-bomb guard, 8192 x 8192).
MAX_PIXELS = 8192 * 8192
CACHE_VERSION = 1
_SHOW = 5  # skipped files named in the warning


def resolve_user_path(arg: str, kind: str = "folder", root: str = "") -> Path:
    """A user-given path; relative paths missing from the working folder are also looked
    for in the data roots (so ``folder:celeba_subset/img`` works with ``$GANKIT_DATA``)."""
    p = Path(arg).expanduser()
    looked = [str(p.absolute())]
    ok = Path.is_dir if kind == "folder" else Path.is_file
    if ok(p):
        return p.absolute()
    if not p.is_absolute():
        for root, why in data_roots(root):
            cand = root / p
            looked.append(f"{cand}  ({why})")
            if ok(cand):
                return cand.absolute()
    what = "folder" if kind == "folder" else "file"
    if p.exists():
        raise DataError(f"{p} is not a {what}")
    raise DataError(f"{what} {arg!r} not found. Looked in:\n  " + "\n  ".join(looked))


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def list_images(root: Path) -> tuple[list[tuple[str, int]], list[str], list[str]]:
    """Images under ``root`` as (relative path, class index), the class names, and the
    relative paths of ignored non-image files. Sorted, so the order is reproducible."""
    def walk(d: Path) -> tuple[list[str], list[str]]:
        imgs, other = [], []
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames[:] = [n for n in dirnames if not _is_hidden(n)]
            for f in filenames:
                if _is_hidden(f):
                    continue
                rel = os.path.relpath(os.path.join(dirpath, f), root)
                (imgs if f.lower().endswith(IMAGE_EXTENSIONS) else other).append(rel)
        return sorted(imgs), sorted(other)

    def is_dir(e: os.DirEntry) -> bool:
        try:
            return e.is_dir()
        except OSError:  # a symlink loop or a dangling link: not a folder of images
            return False

    try:
        subdirs = sorted(e.name for e in os.scandir(root) if is_dir(e) and not _is_hidden(e.name))
    except OSError as e:
        raise DataError(f"cannot list {root}: {e}") from None
    classes = []
    per_class = []
    for s in subdirs:
        imgs, _ = walk(root / s)
        if imgs:
            classes.append(s)
            per_class.append(imgs)
    if len(classes) >= 2:
        files = [(rel, k) for k, imgs in enumerate(per_class) for rel in imgs]
        _, other = walk(root)
        loose = [f for f in os.listdir(root) if not _is_hidden(f)
                 and f.lower().endswith(IMAGE_EXTENSIONS) and (root / f).is_file()]
        if loose:
            log.warning("%s: %d image(s) directly in the folder are ignored because its "
                        "subfolders are used as classes (%s)", root, len(loose),
                        ", ".join(sorted(loose)[:_SHOW]))
        return files, classes, other
    imgs, other = walk(root)
    return [(rel, -1) for rel in imgs], [], other


def _file_stats(root: Path, files: list[tuple[str, int]]) -> list[list]:
    out = []
    for rel, k in files:
        try:
            st = os.stat(root / rel)
            out.append([rel, k, st.st_size, st.st_mtime_ns])
        except OSError:
            out.append([rel, k, -1, 0])
    return out


def open_checked(path):
    """Open an image (a path or a binary file object) lazily, header only, refusing
    decompression bombs: more than ``MAX_PIXELS`` pixels raises ValueError."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = Image.open(path)
    w, h = img.size
    if w * h > MAX_PIXELS:
        img.close()
        raise ValueError(f"{w}x{h} pixels is more than the limit of {MAX_PIXELS} "
                         "(possible decompression bomb)")
    return img


def _common_size(root: Path, files: list[tuple[str, int]], center_crop: int) -> int:
    from gankit.data.transforms import crop_box

    sizes: Counter[int] = Counter()
    for rel, _ in files:
        try:
            with open_checked(root / rel) as img:
                w, h = img.size
        except Exception:  # noqa: BLE001 - reported by the decode pass
            continue
        sizes[crop_box(h, w, center_crop)[2]] += 1
    if not sizes:
        return 0
    top = max(sizes.values())
    return max(s for s, n in sizes.items() if n == top)


def decode_folder(root: Path, files: list[tuple[str, int]], *, resolution: int, channels: int,
                  center_crop: int, limit: int = 0):
    """Decode ``files`` -> (N x H x W x C uint8 array, labels array, skipped "name: why" list)."""
    if resolution == 0:
        resolution = _common_size(root, files, center_crop)
    arrays, labels, skipped = [], [], []
    for rel, k in files:
        if limit and len(arrays) >= limit:
            break
        path = root / rel
        try:
            if path.stat().st_size == 0:
                raise ValueError("empty file")
            with open_checked(path) as img:
                arr = pil_to_array(img, resolution=resolution, channels=channels,
                                   center_crop=center_crop)
        except Exception as e:  # noqa: BLE001 - any decoder failure means "skip this file"
            skipped.append(f"{rel}: {str(e) or type(e).__name__}")
            continue
        arrays.append(arr)
        labels.append(k)
    if not arrays:
        return None, None, skipped
    if channels == 0 and any(a.shape[2] == 3 for a in arrays):
        arrays = [np.repeat(a, 3, axis=2) if a.shape[2] == 1 else a for a in arrays]
    return np.stack(arrays), np.asarray(labels, np.int64), skipped


# --------------------------------------------------------------------------- cache

def _cache_path(key: dict) -> Path:
    # one file per (folder, settings): the file list is checked inside it, so a changed
    # folder overwrites its old entry instead of piling up stale copies
    slot = {k: v for k, v in key.items() if k != "files"}
    digest = hashlib.sha256(json.dumps(slot, sort_keys=True).encode()).hexdigest()[:32]
    return cache_dir().parent / "decoded" / f"{digest}.npz"


def _cache_load(path: Path, key_json: str):
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key_json:  # files changed since: decode again, overwrite
                log.debug("decoded-image cache %s is stale", path)
                return None
            images, labels = z["images"], z["labels"]
            skipped = [str(s) for s in z["skipped"].tolist()]
        if images.dtype != np.uint8 or images.ndim != 4 or labels.shape != images.shape[:1]:
            raise ValueError("bad arrays")
        return images, labels, skipped
    except Exception as e:  # noqa: BLE001 - a damaged cache file is rebuilt, never fatal
        log.warning("decoded-image cache %s is unreadable (%s); decoding again", path, e)
        path.unlink(missing_ok=True)
        return None


def _cache_save(path: Path, key_json: str, images, labels, skipped) -> None:
    from gankit.utils.io import atomic_write

    try:
        buf = io.BytesIO()
        np.savez(buf, key=np.array(key_json), images=images, labels=labels,
                 skipped=np.array(skipped, dtype=str))
        atomic_write(path, lambda f: f.write(buf.getbuffer()))
    except OSError as e:  # a full or read-only disk only costs speed next time
        log.warning("could not write the decoded-image cache %s: %s", path, e)


def load_folder(path: str | Path, *, resolution: int = 0, channels: int = 0,
                center_crop: int = 0, limit: int = 0, select=None, use_cache: bool = True,
                what: str = "subset"):
    """Decode the images of a folder -> (images N x C x H x W uint8 tensor, labels tensor or
    None, class names). ``select(rel_path) -> bool`` keeps a subset of files, described by
    ``what`` (in messages and in the cache key)."""
    root = Path(path).absolute()
    files, classes, other = list_images(root)
    if select is not None:
        files = [(r, k) for r, k in files if select(r)]
    if not files and select is not None and list_images(root)[0]:
        raise DataError(f"{root}: none of its images belong to the requested {what}")
    if not files:
        raise DataError(f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)} "
                        f"files{', ' + str(len(other)) + ' other files ignored' if other else ''})"
                        "; point the path at a folder of images, or at a folder with one "
                        "subfolder of images per class")
    key = {"version": CACHE_VERSION, "root": str(root), "files": _file_stats(root, files),
           "resolution": resolution, "channels": channels, "center_crop": center_crop,
           "limit": limit, "subset": what if select is not None else ""}
    key_json = json.dumps(key, sort_keys=True)
    cpath = _cache_path(key)
    hit = _cache_load(cpath, key_json) if use_cache else None
    if hit is not None:
        images, labels, skipped = hit
        log.debug("loaded %d decoded images of %s from %s", len(images), root, cpath)
    else:
        images, labels, skipped = decode_folder(root, files, resolution=resolution,
                                                channels=channels, center_crop=center_crop,
                                                limit=limit)
        if images is None:
            raise DataError(f"{root}: none of the {len(files)} image files could be read "
                            f"(e.g. {'; '.join(skipped[:_SHOW])}); check that they are valid "
                            "images")
        if use_cache:
            _cache_save(cpath, key_json, images, labels, skipped)
    if skipped:
        also = (f"; also ignored {len(other)} file(s) without an image extension "
                f"(e.g. {', '.join(other[:_SHOW])})" if other else "")
        log.warning("%s: skipped %d unreadable image file(s) of %d (%s%s)%s", root,
                    len(skipped), len(files), "; ".join(skipped[:_SHOW]),
                    "; ..." if len(skipped) > _SHOW else "", also)
    elif other:
        log.debug("%s: ignored %d non-image files", root, len(other))
    x = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    y = torch.from_numpy(labels) if classes else None
    return x, y, classes


def load_folder_dataset(root: Path, cfg):
    """The in-memory ``folder:`` dataset (the builder, which may stream instead, is
    :func:`gankit.data.stream.folder_dataset`)."""
    images, labels, classes = load_folder(root, resolution=cfg.resolution,
                                          channels=cfg.channels, center_crop=cfg.center_crop,
                                          limit=cfg.limit)
    return finish(images, labels, cfg, class_names=classes, source=str(root),
                  num_classes=len(classes) if classes else None, transform=False)
