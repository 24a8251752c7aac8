"""Raw image archives (``gankit data pack --format raw``): pixels stored, not encoded.

A raw archive is a zip like the PNG one that ``gankit data pack`` writes by default, with the
same names and the same ``dataset.json``, but each image is a ``.npy`` file
(``00000/img00000000.npy``): a uint8 array of shape C x H x W (the layout of a training
batch; numpy's format 1.0, so ``np.load`` reads an entry extracted from it), stored without
compression. Reading an image needs no decoding: one ``preadv`` puts its .npy header in a
small buffer and its pixels straight into the batch, the header is compared with the one every
entry must have and the pixels with the zip's CRC-32 of the entry, and a flipped image is
mirrored in place. Training at another resolution, channel count or crop goes through Pillow
exactly as a PNG of the same pixels would (:func:`~gankit.data.transforms.fit_image`).

Memory stays bounded: only the names, the entries' offsets and CRCs are kept (the zip's own
directory is closed after listing). The bytes are read with ``pread``, not memory-mapped: a
mapping would count every page read in the process's resident memory, growing towards the
whole file (the decoded size of the set) over an epoch; ``pread`` leaves them in the kernel's
page cache, which gives them back under pressure.

A raw archive takes about as much disk as the set decoded (49 kB per 128x128 RGB image), several
times a PNG archive; PNG stays the default format (stylegan2-ada and other tools read it).
A damaged raw archive stops with one line saying what to do: a cut-short file has no zip
directory (:func:`~gankit.data.archive.not_a_zip`), an entry whose bytes do not match its
header or CRC names itself.
"""
from __future__ import annotations

import io
import os
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from gankit.data.archive import ImageDecodeError, ImageFiles, hidden_entry, not_a_zip
from gankit.data.folder import IMAGE_EXTENSIONS
from gankit.data.transforms import crop_box
from gankit.errors import DataError

SUFFIX = ".npy"
_LOCAL = struct.Struct("<4s22xHH")  # a zip local file header: signature ... name, extra lengths
_REPACK = "pack the data again with `gankit data pack --format raw`"


def npy_header(shape: tuple[int, ...]) -> bytes:
    """The .npy (format 1.0) header of a C-ordered uint8 array of ``shape``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "|u1", "fortran_order": False, "shape": tuple(int(s) for s in shape)})
    return buf.getvalue()


def npy_bytes(image: np.ndarray) -> bytes:
    """An H x W x C uint8 image as a raw archive stores it: C x H x W in .npy format."""
    chw = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.uint8)
    return npy_header(chw.shape) + chw.tobytes()


def open_files(path: str | Path) -> ImageFiles:
    """The images of folder or zip ``path``: a :class:`RawImages` for a zip of .npy images,
    else an :class:`~gankit.data.archive.ImageFiles` (encoded images)."""
    path = Path(path).absolute()
    if not path.is_file():
        return ImageFiles(path)
    try:
        z = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile):
        raise not_a_zip(path) from None
    names = z.namelist()
    if any(n.lower().endswith(SUFFIX) and not hidden_entry(n) for n in names) and not any(
            n.lower().endswith(IMAGE_EXTENSIONS) and not hidden_entry(n) for n in names):
        return RawImages(path, z)
    return ImageFiles(path, z)


class RawImages(ImageFiles):
    """The images of a raw archive (module docstring), read by offset without decoding."""

    def __init__(self, path: str | Path, archive: zipfile.ZipFile | None = None):
        self._fd, self._fd_pid = -1, -1
        super().__init__(path, archive)  # lists the entries (_list) and reads dataset.json
        self._zip.close()  # its directory (one object per entry) is not needed any more
        self._zip = None
        first = self._read(0, self._entry_size)
        try:
            f = io.BytesIO(first)
            if np.lib.format.read_magic(f) != (1, 0):
                raise ValueError("not .npy format 1.0")
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        except ValueError as e:
            raise DataError(f"{self.path}: {self.names[0]} is not a .npy array ({e}); "
                            f"{_REPACK}") from None
        if (dtype != np.uint8 or fortran or len(shape) != 3 or shape[0] not in (1, 3)
                or shape[1] != shape[2]):
            raise DataError(f"{self.path}: {self.names[0]} holds a {dtype} array of shape "
                            f"{shape}, not a square uint8 C x H x W image (C = 1 or 3); "
                            f"{_REPACK}")
        self.shape: tuple[int, int, int] = tuple(shape)
        self._header = npy_header(self.shape)
        if len(self._header) + int(np.prod(self.shape)) != self._entry_size:
            raise DataError(f"{self.path}: its entries are {self._entry_size} bytes, not the "
                            f"{len(self._header)} + {int(np.prod(self.shape))} of a {shape} "
                            f".npy array; {_REPACK}")

    # ------------------------------------------------------------------ listing
    def _list(self):
        infos = sorted((i for i in self.archive().infolist()
                        if i.filename.lower().endswith(SUFFIX) and not hidden_entry(i.filename)),
                       key=lambda i: i.filename)
        bad = [i.filename for i in infos if i.compress_type != zipfile.ZIP_STORED]
        if bad:
            raise DataError(f"{self.path}: {len(bad)} .npy entries are compressed (e.g. "
                            f"{bad[0]}); a raw archive stores them uncompressed: {_REPACK}")
        sizes = {i.file_size for i in infos}
        if len(sizes) > 1:
            raise DataError(f"{self.path}: its .npy entries differ in size ({min(sizes)} to "
                            f"{max(sizes)} bytes); a raw archive holds images of one shape: "
                            f"{_REPACK}")
        self._entry_size = sizes.pop() if sizes else 0
        self._header_at = np.array([i.header_offset for i in infos], np.int64)
        self._crc = np.array([i.CRC for i in infos], np.int64)
        self._data_at = np.full(len(infos), -1, np.int64)  # found on first read (per process)
        return [i.filename for i in infos], None, []

    # ------------------------------------------------------------------ reading
    def _handle(self) -> int:
        """This process's file descriptor (opened again after a fork)."""
        if self._fd < 0 or self._fd_pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDONLY)
            except OSError as e:
                raise DataError(f"cannot open {self.path}: {e}") from None
            self._fd_pid = os.getpid()
        return self._fd

    def __getstate__(self):  # DataLoader workers open their own descriptor
        state = super().__getstate__()
        state["_fd"], state["_fd_pid"] = -1, -1
        return state

    def __del__(self):
        if self._fd >= 0 and self._fd_pid == os.getpid():
            os.close(self._fd)

    def _damaged(self, i: int, what: str) -> ImageDecodeError:
        return ImageDecodeError(f"{self.path}: {self.names[i]} is damaged ({what}); the "
                                f"archive is corrupt or truncated: {_REPACK}",
                                self.names[i], what)

    def _offset(self, i: int) -> int:
        """Where entry ``i``'s bytes start (after its local header, read once)."""
        at = int(self._data_at[i])
        if at < 0:
            local = os.pread(self._handle(), _LOCAL.size, int(self._header_at[i]))
            if len(local) < _LOCAL.size:
                raise self._damaged(i, "its zip header is past the end of the file")
            sig, n, extra = _LOCAL.unpack(local)
            if sig != b"PK\x03\x04":
                raise self._damaged(i, "no zip header where the directory points")
            at = int(self._header_at[i]) + _LOCAL.size + n + extra
            self._data_at[i] = at
        return at

    def _read(self, i: int, size: int) -> bytes:
        data = os.pread(self._handle(), size, self._offset(i))
        if len(data) < size:
            raise self._damaged(i, f"{len(data)} of its {size} bytes in the file")
        return data

    def read(self, i: int) -> bytes:
        """Entry ``i``'s .npy bytes, checked."""
        data = self._read(i, self._entry_size)
        if zlib.crc32(data) != self._crc[i]:
            raise self._damaged(i, "its bytes do not match the zip's CRC")
        return data

    def read_into(self, i: int, out: np.ndarray) -> None:
        """Image ``i``'s C x H x W pixels straight into ``out`` (contiguous, its shape)."""
        head = bytearray(len(self._header))
        got = os.preadv(self._handle(), [head, out], self._offset(i))
        if got < self._entry_size:
            raise self._damaged(i, f"{got} of its {self._entry_size} bytes in the file")
        if head != self._header:
            raise self._damaged(i, "its .npy header differs from the archive's")
        if zlib.crc32(out, zlib.crc32(head)) != self._crc[i]:
            raise self._damaged(i, "its bytes do not match the zip's CRC")

    def pillow_image(self, i: int):
        """Image ``i`` as an L or RGB Pillow image (for another shape than the stored one: the
        inherited :meth:`decode` and :meth:`decode_into` treat it like a decoded PNG)."""
        from PIL import Image

        arr = np.empty(self.shape, np.uint8)
        self.read_into(i, arr)
        return Image.fromarray(arr[0] if self.shape[0] == 1 else arr.transpose(1, 2, 0))

    def decode_into(self, i: int, out: np.ndarray, *, mirror: bool, center_crop: int) -> None:
        """Image ``i`` at ``out``'s shape (C x R x R uint8) into ``out``, mirrored when
        ``mirror``: read as it is stored when the shape is the stored one and the crop the
        whole image, else resized/converted by Pillow like a PNG of the same pixels."""
        c, r = out.shape[0], out.shape[1]
        if (c, r, r) == self.shape and crop_box(r, r, center_crop)[2] == r:
            self.read_into(i, out)
            if mirror:
                out[...] = out[:, :, ::-1]  # numpy copies overlapping operands first
            return
        super().decode_into(i, out, mirror=mirror, center_crop=center_crop)

    def image_info(self, i: int) -> tuple[int, int, bool]:
        c, h, w = self.shape
        return w, h, c == 1
