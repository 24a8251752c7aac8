"""Paired and unpaired image-to-image data sets (pix2pix and CycleGAN layouts).

Paired (``kind="paired"``): example ``i`` is an aligned pair (A_i, B_i). Two layouts are read:

* one file per pair holding A and B side by side (the pix2pix release: ``train/1.jpg`` is
  ``[A | B]``; the left half is A);
* two folders ``A/`` and ``B/`` whose files have the same names.

Unpaired (``kind="unpaired"``): two independent collections, ``trainA/ trainB/ testA/ testB/``
(the CycleGAN release layout). The domains may have different sizes; the loader draws the A
and B indices of a batch from two independent seeded permutations (:class:`UnpairedLoader`),
so a B image is not tied to an A image and every B image is visited once per B-epoch.

Batches are ``{"A": float NCHW in [-1, 1], "B": ...}``, both domains with ``info.channels``
channels at ``info.resolution``.

Augmentation for paired training data follows pix2pix: *random jitter* (images stored once,
resized *up* to ``jitter * resolution``; every batch takes a random ``resolution`` crop) and a
random mirror, with the same crop and mirror applied to A and B so they stay aligned. Both are
tensor ops on the whole batch. Jitter is only used on the ``train`` split.

Options go after the path in the dataset spec, URL style: ``paired:/data/facades?jitter=1.12``;
built-in sets take only options: ``maps:jitter=1.12&direction=BtoA``. Known options:
``jitter`` (float >= 1; 1 = off), ``direction`` (``AtoB``/``BtoA``: swap the domains), ``test``
(number of pairs held out as the test split for sets that ship only a train folder: ``maps``),
``rot90`` (1 = rotate each training pair by a random multiple of 90 degrees, for data with no
"up" such as aerial photos; with ``flip`` that is all 8 symmetries of the square).

Built-in sets (``maps``, ``maps-unpaired``, ``edges2fashion``, ``digits-style``) are in
:mod:`gankit.data.paired_builtin`.

Image files are decoded with Pillow here (a minimal reader: RGB/grey conversion, resize). When
the shared folder reader in :mod:`gankit.data.folder` lands this can use it instead.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gankit.data.base import BatchLoader, Dataset, DataInfo, to_float
from gankit.errors import DataError
from gankit.registry import DATASETS

if TYPE_CHECKING:  # pragma: no cover
    from gankit.config import DataConfig

log = logging.getLogger("gankit.data")

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm"}
DEFAULT_JITTER = 286 / 256  # pix2pix: resize 256 -> 286, random-crop 256


# --------------------------------------------------------------------------- augmentation

def random_crop(images: list[torch.Tensor], size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Crop the same random ``size`` x ``size`` window from each image of every tensor.

    All tensors are N x C x L x L with the same N and L; window ``i`` is drawn once and used
    for all of them (so paired A and B stay aligned). One gather, no loop over images.
    """
    n, _, h, w = images[0].shape
    if h == size and w == size:
        return images
    oy = torch.randint(0, h - size + 1, (n,), generator=gen)
    ox = torch.randint(0, w - size + 1, (n,), generator=gen)
    ar = torch.arange(size)
    dev = images[0].device
    rows = (oy[:, None] + ar).to(dev)[:, :, None]       # N x S x 1
    cols = (ox[:, None] + ar).to(dev)[:, None, :]       # N x 1 x S
    nidx = torch.arange(n, device=dev)[:, None, None]
    # advanced indexing on dims 0, 2, 3 -> N x S x S x C; move C back
    return [x[nidx, :, rows, cols].permute(0, 3, 1, 2).contiguous() for x in images]


def rotate90(images: list[torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    """Rotate image ``i`` of every tensor by the same random multiple of 90 degrees."""
    k = torch.randint(0, 4, (images[0].shape[0],), generator=gen).to(images[0].device)
    k = k.view(-1, 1, 1, 1)
    out = []
    for x in images:
        y = x
        for turns in (1, 2, 3):
            y = torch.where(k == turns, torch.rot90(x, turns, (-2, -1)), y)
        out.append(y)
    return out


def mirror(images: list[torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    """Flip image ``i`` of every tensor horizontally, with one coin per ``i``."""
    mask = (torch.rand(images[0].shape[0], generator=gen) < 0.5).to(images[0].device)
    mask = mask.view(-1, 1, 1, 1)
    return [torch.where(mask, x.flip(-1), x) for x in images]


# --------------------------------------------------------------------------- datasets

def _check_pair(a: torch.Tensor, b: torch.Tensor, where: str) -> None:
    for name, t in (("A", a), ("B", b)):
        if t.dtype != torch.uint8 or t.dim() != 4:
            raise DataError(f"{where}: domain {name} must be uint8 N x C x H x W, "
                            f"got {t.dtype} {tuple(t.shape)}")
        if t.shape[0] == 0:
            raise DataError(f"{where}: no images in domain {name}")
        if t.shape[2] != t.shape[3]:
            raise DataError(f"{where}: images must be square, got {tuple(t.shape[2:])}")
    if a.shape[1:] != b.shape[1:]:
        raise DataError(f"{where}: domains differ in shape ({tuple(a.shape[1:])} vs "
                        f"{tuple(b.shape[1:])}); load both with the same channels and size")


class PairedDataset(Dataset):
    """Aligned pairs: ``A``, ``B`` uint8 N x C x L x L, cropped to ``resolution`` per batch.

    ``L >= resolution``; when ``L > resolution`` each batch takes random crops (jitter),
    otherwise images are used whole. ``flip`` mirrors A and B together; ``rot90`` rotates
    them together by a random multiple of 90 degrees.
    """

    def __init__(self, A: torch.Tensor, B: torch.Tensor, resolution: int | None = None, *,
                 flip: bool = False, rot90: bool = False, source: str = ""):
        _check_pair(A, B, source or "paired dataset")
        if A.shape[0] != B.shape[0]:
            raise DataError(f"{source}: {A.shape[0]} A images but {B.shape[0]} B images; "
                            f"a paired set needs one B for every A")
        resolution = resolution or A.shape[-1]
        if resolution > A.shape[-1]:
            raise DataError(f"{source}: crop size {resolution} is larger than the stored "
                            f"images ({A.shape[-1]})")
        self.A, self.B = A.contiguous(), B.contiguous()
        self.flip, self.rot90, self.source = flip, rot90, source
        self.info = DataInfo("paired", A.shape[1], resolution)

    def __len__(self) -> int:
        return self.A.shape[0]

    def get_batch(self, index, gen, device):
        index = index.cpu()
        a, b = self.A[index], self.B[index]
        a, b = random_crop([a, b], self.info.resolution, gen)
        a, b = to_float(a.to(device)), to_float(b.to(device))
        if self.flip:
            a, b = mirror([a, b], gen)
        if self.rot90:
            a, b = rotate90([a, b], gen)
        return {"A": a, "B": b}


class UnpairedDataset(Dataset):
    """Two independent domains, ``A`` (N_A images) and ``B`` (N_B), uint8 N x C x R x R.

    ``len()`` is N_A; use :meth:`loader` (an :class:`UnpairedLoader`) to draw B from its own
    permutation. ``get_batch(index, ...)`` alone maps ``index`` to B by ``index mod N_B``.
    """

    def __init__(self, A: torch.Tensor, B: torch.Tensor, *, flip: bool = False,
                 source: str = "", labels_A: torch.Tensor | None = None,
                 labels_B: torch.Tensor | None = None):
        _check_pair(A, B, source or "unpaired dataset")
        self.A, self.B = A.contiguous(), B.contiguous()
        self.labels_A, self.labels_B = labels_A, labels_B
        self.flip, self.source = flip, source
        self.info = DataInfo("unpaired", A.shape[1], A.shape[-1])

    def __len__(self) -> int:
        return self.A.shape[0]

    def get_batch(self, index, gen, device, index_b: torch.Tensor | None = None):
        index = index.cpu()
        index_b = index % self.B.shape[0] if index_b is None else index_b.cpu()
        a, b = to_float(self.A[index].to(device)), to_float(self.B[index_b].to(device))
        if self.flip:  # independent mirrors: the domains are not aligned anyway
            (a,), (b,) = mirror([a], gen), mirror([b], gen)
        return {"A": a, "B": b}

    def loader(self, batch_size, seed=0, rank=0, world=1, device="cpu"):
        return UnpairedLoader(self, batch_size, seed, rank, world, torch.device(device))

    def describe(self) -> dict[str, Any]:
        return {"examples": len(self), "examples_A": self.A.shape[0],
                "examples_B": self.B.shape[0], **self.info.to_dict(), "source": self.source}


class UnpairedLoader(BatchLoader):
    """BatchLoader whose B indices walk their own seeded permutation of domain B.

    A indices are exactly :class:`BatchLoader`'s. B indices use the same position arithmetic
    (global batch ``k``, this rank's slice) over N_B with permutations seeded differently, so
    the whole state is still the one integer ``drawn`` and resume is exact.
    """

    _B_SALT = 0xB0B

    def __init__(self, dataset: UnpairedDataset, *args, **kw):
        super().__init__(dataset, *args, **kw)
        self._perm_b_epoch, self._perm_b = -1, None

    def _permutation_b(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_b_epoch:
            g = torch.Generator().manual_seed((self.seed + self._B_SALT) * 1_000_003 + epoch)
            self._perm_b = torch.randperm(self.dataset.B.shape[0], generator=g)
            self._perm_b_epoch = epoch
        return self._perm_b

    def indices_b(self, k: int, whole: bool = False) -> torch.Tensor:
        return self._walk(k, self.dataset.B.shape[0], self._permutation_b, whole)

    def __next__(self):
        k = self.drawn
        self.drawn += 1
        batch = self.dataset.get_batch(self.indices(k, whole=True), self._augment_generator(k),
                                       self.device, index_b=self.indices_b(k, whole=True))
        return self._my_slice(batch)


# --------------------------------------------------------------------------- file reading

def list_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder} is not a folder of images")
    files = sorted((p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_EXTS), key=_natural_key)
    if not files:
        raise DataError(f"no image files ({', '.join(sorted(IMAGE_EXTS))}) in {folder}")
    return files


def _natural_key(p: Path):
    # 2.jpg before 10.jpg, as the pix2pix sets are numbered
    import re
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def read_image(path: Path, channels: int) -> np.ndarray:
    """Decode one file to H x W x channels uint8 (alpha composited on white)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA") or (im.mode == "P" and "transparency" in im.info):
                rgba = im.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(bg, rgba)
            im = im.convert("L" if channels == 1 else "RGB")
            arr = np.asarray(im, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as e:  # PIL reports bad files with these
        raise DataError(f"cannot read image {path}: {e}") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def resize_array(arr: np.ndarray, size: int) -> np.ndarray:
    """H x W x C uint8 -> size x size x C with bicubic resampling (aspect not kept)."""
    from PIL import Image

    if arr.shape[0] == size and arr.shape[1] == size:
        return arr
    im = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    out = np.asarray(im.resize((size, size), Image.BICUBIC), dtype=np.uint8)
    return out[:, :, None] if out.ndim == 2 else out


def _stack(arrs: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()


def _detect_channels(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return 1 if im.mode in ("1", "L", "LA", "I", "I;16", "F") else 3
    except OSError as e:
        raise DataError(f"cannot read image {path}: {e}") from None


def _warn_skipped(skipped: list[str], total: int, where: str) -> None:
    if skipped:
        log.warning("%s: skipped %d unreadable pair(s) of %d (%s%s)", where, len(skipped), total,
                    "; ".join(skipped[:5]), "; ..." if len(skipped) > 5 else "")
    if len(skipped) == total:
        raise DataError(f"{where}: none of the {total} image files could be read "
                        f"(e.g. {'; '.join(skipped[:3])})")


def read_side_by_side(files: list[Path], size: int, channels: int):
    """Files holding ``[A | B]``: split each at half width, resize both halves to ``size``.

    Unreadable files are skipped with one warning; it is an error only when none is left.
    """
    a, b, skipped = [], [], []
    for f in files:
        try:
            arr = read_image(f, channels)
        except DataError as e:
            skipped.append(str(e))
            continue
        half = arr.shape[1] // 2
        a.append(resize_array(np.ascontiguousarray(arr[:, :half]), size))
        b.append(resize_array(np.ascontiguousarray(arr[:, half:2 * half]), size))
    _warn_skipped(skipped, len(files), str(files[0].parent))
    return _stack(a), _stack(b)


# --------------------------------------------------------------------------- spec options

def parse_options(arg: str, builtin: bool = False) -> tuple[str, dict[str, str]]:
    """``/path?jitter=1.1&direction=BtoA`` -> (``/path``, {jitter: 1.1, direction: BtoA}).

    Built-in sets take no path: their whole argument is the options (``maps:jitter=1.1``).
    """
    if builtin and "?" not in arg:
        arg = "?" + arg
    path, _, query = arg.partition("?")
    opts: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        if not eq:
            raise DataError(f"dataset option {item!r} must look like key=value "
                            f"(e.g. paired:/data/facades?jitter=1.12)")
        opts[key.strip()] = value.strip()
    return path.strip(), opts


def _take_options(opts: dict[str, str], allowed: dict[str, Any], where: str) -> dict[str, Any]:
    out = {}
    for key, value in opts.items():
        if key not in allowed:
            raise DataError(f"{where}: unknown option {key!r} (options: {', '.join(allowed)})")
        kind = type(allowed[key])
        try:
            out[key] = kind(value)
        except ValueError:
            raise DataError(f"{where}: option {key}={value!r} must be a {kind.__name__}") from None
    merged = {**allowed, **out}
    if "direction" in merged and merged["direction"] not in ("AtoB", "BtoA"):
        raise DataError(f"{where}: direction must be AtoB or BtoA, got {merged['direction']!r}")
    if merged.get("rot90", 0) not in (0, 1):
        raise DataError(f"{where}: rot90 must be 0 or 1, got {merged['rot90']}")
    if "jitter" in merged and merged["jitter"] < 1.0:
        raise DataError(f"{where}: jitter must be >= 1 (1 = off), got {merged['jitter']}")
    return merged


def data_root(cfg: DataConfig, sub: str, what: str) -> Path:
    """Folder ``sub`` in the data layer's roots (data.root, $GANKIT_DATA, cache, system)."""
    from gankit.data.sources import data_roots

    looked = []
    for base, why in data_roots(cfg.root):
        p = base / sub
        looked.append(f"{p}  ({why})")
        if p.is_dir():
            return p
    raise DataError(f"{what} not found. Looked in:\n  " + "\n  ".join(looked)
                    + f"\nSet data.root (--data-root) or GANKIT_DATA to the folder holding {sub}/")


def _paired_from(A, B, cfg, opts, res, source, flip_ok=True):
    if opts.get("direction") == "BtoA":
        A, B = B, A
    if cfg.limit:
        A, B = A[:cfg.limit], B[:cfg.limit]
    return PairedDataset(A, B, res, flip=cfg.flip and flip_ok, source=source,
                         rot90=bool(opts.get("rot90")) and cfg.split == "train")


def _load_size(res: int, jitter: float, split: str) -> int:
    return int(round(res * jitter)) if split == "train" else res


def _split_files(files: list, n_test: int, split: str, where: str) -> list:
    if n_test >= len(files):
        raise DataError(f"{where}: cannot hold out {n_test} of {len(files)} pairs as the test "
                        f"split")
    if split == "train":
        return files[:len(files) - n_test]
    if split == "test":
        return files[len(files) - n_test:]
    return files


@DATASETS.register("paired")
def paired_folder(arg: str, cfg: DataConfig) -> PairedDataset:
    """Your own aligned pairs (paired:PATH): side-by-side [A|B] files, or A/ + B/ folders.

    ``PATH/<split>/`` is used when it exists (pix2pix releases ship ``train/ val/ test/``).
    """
    path, opts = parse_options(arg)
    opts = _take_options(opts, {"jitter": DEFAULT_JITTER, "direction": "AtoB", "rot90": 0},
                         "paired")
    if not path:
        raise DataError("paired needs a folder: data.dataset=paired:/path/to/pairs")
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"paired: {root} does not exist")
    if cfg.split != "all" and (root / cfg.split).is_dir():
        root = root / cfg.split
    two = (root / "A").is_dir() and (root / "B").is_dir()
    first = list_images(root / "A" if two else root)[0]
    channels = cfg.channels or _detect_channels(first)
    if two:
        fa, fb = list_images(root / "A"), list_images(root / "B")
        names_a, names_b = {f.name for f in fa}, {f.name for f in fb}
        common = sorted(names_a & names_b)
        if not common:
            raise DataError(f"paired: no file names shared by {root / 'A'} and {root / 'B'}")
        if len(common) < max(len(names_a), len(names_b)):
            missing = sorted(names_a ^ names_b)[:5]
            raise DataError(f"paired: {root}/A and {root}/B must hold the same file names; "
                            f"unmatched: {', '.join(missing)}")
    res = cfg.resolution or _native_size(first, half=not two)
    size = _load_size(res, opts["jitter"], cfg.split)
    if two:
        a, b, skipped = [], [], []
        for n in common:
            try:
                pa, pb = read_image(root / "A" / n, channels), read_image(root / "B" / n, channels)
            except DataError as e:
                skipped.append(str(e))
                continue
            a.append(resize_array(pa, size))
            b.append(resize_array(pb, size))
        _warn_skipped(skipped, len(common), str(root))
        A, B = _stack(a), _stack(b)
    else:
        A, B = read_side_by_side(list_images(root), size, channels)
    return _paired_from(A, B, cfg, opts, res, str(root))


def _native_size(path: Path, half: bool) -> int:
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    return min(h, w // 2 if half else w)


@DATASETS.register("unpaired")
def unpaired_folder(arg: str, cfg: DataConfig) -> UnpairedDataset:
    """Your own unpaired domains (unpaired:PATH): trainA/ trainB/ (testA/ testB/) folders."""
    path, opts = parse_options(arg)
    opts = _take_options(opts, {"direction": "AtoB"}, "unpaired")
    if not path:
        raise DataError("unpaired needs a folder: data.dataset=unpaired:/path/to/horse2zebra")
    root = Path(path).expanduser()
    splits = ["train", "test"] if cfg.split == "all" else [cfg.split]
    for s in splits:
        for d in "AB":
            if not (root / f"{s}{d}").is_dir():
                raise DataError(f"unpaired: {root / (s + d)} is missing; an unpaired set holds "
                                f"trainA/ trainB/ (and testA/ testB/) folders")
    from gankit.data.folder import load_folder

    # the data layer's reader: cached decoding, EXIF, alpha on white, corrupt files skipped
    # with a warning; each image is centre-cropped to a square, then resized (LANCZOS)
    first = list_images(root / f"{splits[0]}A")[0]
    channels = cfg.channels or _detect_channels(first)
    res = cfg.resolution or _native_size(first, half=False)

    def domain(d: str) -> torch.Tensor:
        return torch.cat([load_folder(root / f"{s}{d}", resolution=res, channels=channels)[0]
                          for s in splits])

    A, B = domain("A"), domain("B")
    if opts["direction"] == "BtoA":
        A, B = B, A
    if cfg.limit:
        A, B = A[:cfg.limit], B[:cfg.limit]
    return UnpairedDataset(A, B, flip=cfg.flip, source=str(root))


# --------------------------------------------------------------------------- synthetic (tests)

def synthetic_paired(n: int = 8, channels: int = 3, resolution: int = 32, seed: int = 0,
                     load_size: int | None = None) -> PairedDataset:
    """Random aligned pairs (B = 255 - A, the negative), for tests and the contract test.

    ``load_size`` > ``resolution`` stores larger images so that batches are random crops.
    """
    g = torch.Generator().manual_seed(seed)
    s = load_size or resolution
    A = torch.randint(0, 256, (n, channels, s, s), generator=g, dtype=torch.uint8)
    return PairedDataset(A, 255 - A, resolution, source="synthetic")


def synthetic_unpaired(n_a: int = 8, n_b: int = 5, channels: int = 3, resolution: int = 32,
                       seed: int = 0) -> UnpairedDataset:
    """Two random domains of different sizes (B brighter), for tests and the contract test."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randint(0, 128, (n_a, channels, resolution, resolution), generator=g,
                      dtype=torch.uint8)
    B = torch.randint(128, 256, (n_b, channels, resolution, resolution), generator=g,
                      dtype=torch.uint8)
    return UnpairedDataset(A, B, source="synthetic")
