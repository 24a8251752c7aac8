"""Image files in a folder or a zip archive, read one at a time (the stylegan2-ada layout).

An :class:`ImageFiles` lists the images of a folder or a ``.zip`` (hidden entries skipped,
sorted by path, so the order is reproducible) and decodes any one of them on demand; nothing
is held but the list of names. Labels come from ``dataset.json`` at the top of the folder or
archive, as stylegan2-ada's ``dataset_tool`` writes it::

    {"labels": [["00000/img00000000.png", 3], ...], "class_names": ["cat", "dog", ...]}

(``"labels": null`` = unlabelled; ``class_names`` is gankit's optional addition). A folder
without ``dataset.json`` takes its labels from class subfolders, as ``folder:`` does
(:func:`gankit.data.folder.list_images`).

A zip archive is opened once per process (DataLoader workers each get their own handle: a
``ZipFile`` must not be shared across a fork).
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

import numpy as np

from gankit.data.folder import IMAGE_EXTENSIONS, list_images, open_checked
from gankit.data.transforms import crop_box, fit_image, pil_to_array, write_planes
from gankit.errors import DataError

LABELS_FILE = "dataset.json"


class ImageDecodeError(DataError):
    """One image of a set cannot be decoded: ``name`` (its path in the set) and ``reason``."""

    def __init__(self, message: str, name: str, reason: str):
        super().__init__(message)
        self.name, self.reason = name, reason


def not_a_zip(path: Path) -> DataError:
    return DataError(f"{path} is not a zip archive, or it is truncated or damaged (its zip "
                     "directory cannot be read); point data.dataset at a folder of images or a "
                     ".zip made by `gankit data pack`, and pack it again if it was cut short")


def hidden_entry(rel: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.split("/"))


def open_image(data: bytes):
    """Open encoded image bytes lazily (header only), refusing decompression bombs."""
    from PIL import Image

    if not data:
        raise ValueError("empty file")
    try:
        return open_checked(io.BytesIO(data))
    except Image.UnidentifiedImageError:  # (its message names a BytesIO object)
        raise ValueError("not an image Pillow can read") from None


def is_grey_mode(mode: str) -> bool:
    """Pillow modes that :func:`~gankit.data.transforms.normalize_mode` turns into L."""
    return mode in ("1", "L", "LA", "La", "F") or mode.startswith("I")


class ImageFiles:
    """The images of a folder or zip archive, with optional labels (see module docstring)."""

    def __init__(self, path: str | Path, archive: zipfile.ZipFile | None = None):
        self.path = Path(path).absolute()
        self.is_zip = self.path.is_file()
        if self.is_zip and archive is None and not zipfile.is_zipfile(self.path):
            raise not_a_zip(self.path)
        self._zip: zipfile.ZipFile | None = archive  # an open handle may be passed in
        self._zip_pid = -1 if archive is None else os.getpid()
        names, folder_labels, classes = self._list()
        self.names: list[str] = names
        self.class_names: list[str] = classes
        self.labels: np.ndarray | None = folder_labels
        meta = self._read_meta()
        self.meta_labels = meta is not None  # labels (or none) from dataset.json
        if meta is not None:
            self.labels, self.class_names = self._labels_from(meta)
        if not self.names:
            raise DataError(f"{self.path}: no images found (looked for "
                            f"{', '.join(IMAGE_EXTENSIONS)} files)")

    # ------------------------------------------------------------------ listing
    def _list(self) -> tuple[list[str], np.ndarray | None, list[str]]:
        if not self.is_zip:
            files, classes, _ = list_images(self.path)
            names = [rel.replace(os.sep, "/") for rel, _ in files]
            labels = np.array([k for _, k in files], np.int64) if classes else None
            return names, labels, classes
        names = sorted(n for n in self.archive().namelist()
                       if n.lower().endswith(IMAGE_EXTENSIONS) and not hidden_entry(n))
        return names, None, []

    def _read_meta(self) -> dict | None:
        try:
            if self.is_zip:
                if LABELS_FILE not in self.archive().namelist():
                    return None
                raw = self.archive().read(LABELS_FILE)
            else:
                p = self.path / LABELS_FILE
                if not p.is_file():
                    return None
                raw = p.read_bytes()
            meta = json.loads(raw)
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise DataError(f"{self.path}: cannot read its {LABELS_FILE} ({e}); fix or delete "
                            "it") from None
        if not isinstance(meta, dict):
            raise DataError(f"{self.path}: {LABELS_FILE} must hold an object with \"labels\"")
        return meta

    def _labels_from(self, meta: dict) -> tuple[np.ndarray | None, list[str]]:
        pairs = meta.get("labels")
        classes = [str(c) for c in meta.get("class_names") or []]
        if pairs is None:
            return None, classes
        try:
            table = {str(name): int(label) for name, label in pairs}
        except (TypeError, ValueError):
            raise DataError(f"{self.path}: {LABELS_FILE} labels must be [[file, int], ...] "
                            "pairs") from None
        missing = [n for n in self.names if n not in table]
        if missing:
            raise DataError(f"{self.path}: {len(missing)} image(s) have no label in "
                            f"{LABELS_FILE} (e.g. {missing[0]}); add them or delete the file")
        labels = np.array([table[n] for n in self.names], np.int64)
        if labels.min() < 0:
            raise DataError(f"{self.path}: negative label in {LABELS_FILE}")
        return labels, classes

    # ------------------------------------------------------------------ reading
    def archive(self) -> zipfile.ZipFile:
        """This process's handle on the zip (reopened after a fork)."""
        if self._zip is None or self._zip_pid != os.getpid():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except (OSError, zipfile.BadZipFile) as e:
                raise DataError(f"cannot open {self.path}: {e}") from None
            self._zip_pid = os.getpid()
        return self._zip

    def __getstate__(self):  # DataLoader workers: pickled without the open handle
        state = dict(self.__dict__)
        state["_zip"], state["_zip_pid"] = None, -1
        return state

    def __len__(self) -> int:
        return len(self.names)

    def read(self, i: int) -> bytes:
        name = self.names[i]
        if self.is_zip:
            return self.archive().read(name)
        return (self.path / name).read_bytes()

    def pillow_image(self, i: int):
        """Image ``i`` opened by Pillow (lazily, header first; use it in a ``with``)."""
        return open_image(self.read(i))

    def decode(self, i: int, *, resolution: int, channels: int, center_crop: int) -> np.ndarray:
        """Image ``i`` -> H x W x C uint8 (C = ``channels``), or a one-line DataError."""
        try:
            with self.pillow_image(i) as img:
                arr = pil_to_array(img, resolution=resolution, channels=channels,
                                   center_crop=center_crop)
        except ImageDecodeError:  # already names the file and what to do
            raise
        except Exception as e:  # noqa: BLE001 - any decoder failure names the file
            raise self._error(i, e) from None
        return arr

    def decode_into(self, i: int, out: np.ndarray, *, mirror: bool, center_crop: int) -> None:
        """Image ``i`` decoded at ``out``'s shape (C x R x R uint8, C = 1 or 3) straight into
        ``out``, mirrored left-right when ``mirror``; the pixels of :meth:`decode`."""
        c, r = out.shape[0], out.shape[1]
        try:
            with self.pillow_image(i) as img:
                img = fit_image(img, resolution=r, channels=c, center_crop=center_crop)
                if img.size != (r, r) or len(img.getbands()) != c:  # cannot happen
                    raise ValueError(f"decoded to {img.size} {img.mode}, expected {r}x{r}")
                write_planes(img, out, mirror)
        except ImageDecodeError:
            raise
        except Exception as e:  # noqa: BLE001 - any decoder failure names the file
            raise self._error(i, e) from None

    def image_info(self, i: int) -> tuple[int, int, bool]:
        """(width, height, greyscale?) of image ``i`` from its header (raises if unreadable)."""
        with self.pillow_image(i) as img:
            w, h = img.size
            return w, h, is_grey_mode(img.mode)

    def _error(self, i: int, e: Exception) -> ImageDecodeError:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        return ImageDecodeError(f"{self.path}: cannot decode {self.names[i]} ({why}); "
                                "remove it, or repack the data with `gankit data pack`, "
                                "which skips unreadable files", self.names[i], why)

    def probe(self, center_crop: int, tries: int = 20) -> tuple[int, int]:
        """(crop size, channels) of the first readable image among the first ``tries``: what
        resolution 0 and channels 0 mean for a streamed set (a packed archive's images all
        share them)."""
        errors = []
        for i in range(min(tries, len(self.names))):
            try:
                w, h, grey = self.image_info(i)
            except Exception as e:  # noqa: BLE001 - the next one may do
                errors.append(f"{self.names[i]}: {e}")
                continue
            return crop_box(h, w, center_crop)[2], 1 if grey else 3
        raise DataError(f"{self.path}: none of its first {len(errors)} images can be read "
                        f"(e.g. {errors[0]}); check that they are images, or repack the data "
                        "with `gankit data pack`")
