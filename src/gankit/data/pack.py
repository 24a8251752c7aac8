"""``gankit data pack``: decode, crop and resize a set of images once, into a zip archive.

Like stylegan2-ada's ``dataset_tool``: every readable image of a folder (or of another
archive) is brought to the training shape (centre crop, LANCZOS resize, L or RGB, exactly as
``folder:`` decodes it: :func:`gankit.data.transforms.pil_to_array`) and stored as a PNG named
``00000/img00000000.png`` in a zip, with ``dataset.json`` holding the labels
(``{"labels": [[name, class], ...] | null, "class_names": [...]}``). Training from the archive
then only has to decode small PNGs. ``--format raw`` stores the pixels instead, as
uncompressed C x H x W uint8 ``.npy`` entries with the same names (``img00000000.npy``) and the
same ``dataset.json``: several times the disk space, but read without any decoding
(:mod:`gankit.data.rawzip`).

Memory stays bounded: images are read, converted and written one at a time; only names and
labels are kept. Unreadable files are skipped and reported by name. The archive is written to
a temporary file next to the destination and renamed at the end, so an interrupted pack leaves
no half-written archive behind.
"""
from __future__ import annotations

import io
import json
import os
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from gankit.data.archive import LABELS_FILE, ImageDecodeError, ImageFiles
from gankit.data.rawzip import npy_bytes, open_files
from gankit.data.transforms import crop_box
from gankit.errors import DataError
from gankit.utils.io import temp_beside


@dataclass
class PackResult:
    out: Path
    written: int
    resolution: int
    channels: int
    class_names: list[str]
    skipped: list[str] = field(default_factory=list)   # "relative/path: why"


def _survey(files: ImageFiles, center_crop: int) -> tuple[int, bool]:
    """(most common crop size, whether every readable image is greyscale): header reads only."""
    sizes: Counter[int] = Counter()
    grey = True
    for i in range(len(files)):
        try:
            w, h, g = files.image_info(i)
        except Exception:  # noqa: BLE001 - reported by the decode pass
            continue
        grey = grey and g
        sizes[crop_box(h, w, center_crop)[2]] += 1
    if not sizes:
        return 0, grey
    top = max(sizes.values())
    return max(s for s, n in sizes.items() if n == top), grey


#: pack formats and the suffix of their entries
FORMATS = {"png": ".png", "raw": ".npy"}


def pack_images(source: str | Path, out: str | Path, *, resolution: int = 0,
                center_crop: int = 0, channels: int = 0, format: str = "png",
                progress: Callable[[int, int], None] | None = None) -> PackResult:
    """Pack the images of folder or zip ``source`` into zip ``out`` (see module docstring).

    ``resolution`` 0 = the most common crop size; ``channels`` 0 = 1 when every image is
    greyscale, else 3. ``format``: ``png`` (the default, stylegan2-ada's layout) or ``raw``
    (uncompressed C x H x W uint8 .npy entries, read without decoding:
    :mod:`gankit.data.rawzip`). ``progress(done, total)`` is called after each image.
    """
    if format not in FORMATS:
        raise DataError(f"unknown pack format {format!r}; choose png or raw")
    src = Path(source).expanduser()
    if not src.exists():
        raise DataError(f"{src} not found; give a folder of images (or a zip) to pack")
    out = Path(out).expanduser().absolute()
    if out.suffix.lower() != ".zip":
        raise DataError(f"{out}: the output must be a .zip file")
    if src.absolute() == out:
        raise DataError(f"{out}: the output would overwrite the input; choose another name")
    files = open_files(src)
    if resolution == 0 or channels == 0:
        common, grey = _survey(files, center_crop)
        resolution = resolution or common
        channels = channels or (1 if grey else 3)
        if not resolution:
            resolution = 1  # nothing readable: the decode pass below reports every file
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = temp_beside(out, ".part")  # with the usual permissions, not 0600
    os.close(fd)
    tmp = Path(tmp_name)
    skipped: list[str] = []
    labels: list[list] = []
    written = 0
    try:
        # PNGs are compressed already and raw arrays are read by offset: store them, so that
        # reading one is a plain seek
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
            for i in range(len(files)):
                try:
                    arr = files.decode(i, resolution=resolution, channels=channels,
                                       center_crop=center_crop)
                except ImageDecodeError as e:
                    skipped.append(f"{e.name}: {e.reason}")
                else:
                    name = f"{written // 1000:05d}/img{written:08d}{FORMATS[format]}"
                    if format == "raw":
                        data = npy_bytes(arr)
                    else:
                        buf = io.BytesIO()
                        Image.fromarray(arr[:, :, 0] if channels == 1 else arr).save(
                            buf, format="PNG", compress_level=3)
                        data = buf.getvalue()
                    z.writestr(name, data)
                    if files.labels is not None:
                        labels.append([name, int(files.labels[i])])
                    written += 1
                if progress is not None:
                    progress(i + 1, len(files))
            if not written:
                raise DataError(f"{src}: none of its {len(files)} image file(s) could be read "
                                f"(e.g. {'; '.join(skipped[:3])}); nothing was written")
            meta = {"labels": labels if files.labels is not None else None,
                    "class_names": files.class_names}
            z.writestr(LABELS_FILE, json.dumps(meta))
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PackResult(out, written, resolution, channels, list(files.class_names), skipped)
