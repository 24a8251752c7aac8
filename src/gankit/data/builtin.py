"""Built-in datasets by name: ``mnist``, ``fashion-mnist``, ``cifar10``, ``celeba``.

A spec ``name:split`` (e.g. ``cifar10:test``) overrides ``data.split``; splits are ``train``,
``test`` and ``all`` (train followed by test). Files are found as described in
:mod:`gankit.data.sources`; missing MNIST, Fashion-MNIST and CIFAR-10 files are downloaded
into the user cache when ``data.download`` is true.

- **mnist**, **fashion-mnist**: the four IDX files (``.gz`` or unpacked), 28x28 greyscale,
  10 classes.
- **cifar10**: the official python batches (``cifar-10-batches-py/``), 32x32 RGB, 10 classes.
  When only the partial ``cifar10_subset/cifar10_subset.npz`` of ``shared/data`` is present
  (4,000 train / 1,000 test images) it is used with a warning. The full set is preferred
  wherever it is.
- **celeba**: a folder of aligned face JPEGs (``celeba_subset/img/`` of ``shared/data``, or
  the official ``img_align_celeba/``), unlabelled, RGB. ``data.resolution: 0`` means 64 here
  (faces are not square: 178x218, or 89x109 in the half-size subset), and the default
  ``center_crop: 0`` takes the largest centred square, the full width: 178 px, or 89 px for
  the subset. That is exactly the usual DCGAN face pipeline "centre crop 89 (or 178), resize
  to 64". Splits follow CelebA's official partition by image number: train 1..162770, test
  182638..202599, all = every image present (the 5,000-image subset is all train).
"""
from __future__ import annotations

import gzip
import logging
import pickle
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import torch

from gankit.data.sources import CHECKSUMS, cache_dir, download, find_first, missing_message, \
    resolve_file
from gankit.data.transforms import finish
from gankit.errors import DataError
from gankit.registry import DATASETS

log = logging.getLogger("gankit.data")

SPLITS = ("train", "test", "all")

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck"]


def get_split(arg: str, cfg) -> str:
    split = arg or cfg.split
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {', '.join(SPLITS)} "
                        f"(e.g. cifar10:test or data.split=test)")
    return split


def _parts(split: str) -> list[str]:
    return ["train", "test"] if split == "all" else [split]


# --------------------------------------------------------------------------- IDX (MNIST)

IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (gzip or plain): uint8 images N x H x W or labels N."""
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"{path}: cannot read it ({e}); the file is damaged: delete it and "
                        "download it again") from None
    if len(data) < 8 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or data[3] not in (1, 3):
        raise DataError(f"{path}: not an IDX file of uint8 data (bad magic number)")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise DataError(f"{path}: holds {len(data) - offset} bytes of data, its header says "
                        f"{dims}; the file is truncated: delete it and download it again")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def _idx_dataset(name: str, arg: str, cfg, subdirs: list[str], classes: list[str],
                 how: str):
    split = get_split(arg, cfg)
    required = [f for part in _parts(split) for f in IDX_FILES[part]]
    # the explicit root itself may hold the files (both sets use the same file names, so
    # only a folder the user named is searched without a dataset subfolder)
    dirs = subdirs + ([""] if cfg.root else [])
    folder, looked = find_first(cfg.root, dirs, required)
    if folder is None and cfg.download:
        try:
            download(name, required)
        except DataError as e:
            raise DataError(missing_message(f"{name} ({split})", looked, how) +
                            f"\nThe download failed: {e}") from None
        folder, looked = find_first(cfg.root, dirs, required)
    if folder is None:
        raise DataError(missing_message(f"{name} ({split}: {', '.join(required)})", looked, how))
    xs, ys = [], []
    for part in _parts(split):
        img_name, lab_name = IDX_FILES[part]
        x = read_idx(resolve_file(folder, img_name))
        y = read_idx(resolve_file(folder, lab_name))
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise DataError(f"{folder}: {img_name} {x.shape} and {lab_name} {y.shape} do not "
                            "match (images N x H x W, labels N)")
        if y.size and int(y.max()) >= len(classes):
            raise DataError(f"{folder}: {lab_name} holds label {int(y.max())}; {name} has "
                            f"classes 0..{len(classes) - 1}. Is this the right data set?")
        xs.append(x)
        ys.append(y)
    x = torch.from_numpy(np.concatenate(xs)[:, None])
    y = torch.from_numpy(np.concatenate(ys).astype(np.int64))
    return finish(x, y, cfg, class_names=classes, source=str(folder),
                  num_classes=len(classes))


def _download_hint(name: str, folder: str, extra: str = "") -> str:
    return (f"Get the files with `gankit data download {name}` (needs internet), put them in "
            f"$GANKIT_DATA/{folder}/ or pass --data-root DIR{extra}. A training run tries the "
            "download itself unless data.download=false.")


@DATASETS.register("mnist")
def mnist(arg: str, cfg):
    """MNIST handwritten digits: 60,000 train / 10,000 test, 28x28 grey, classes 0..9."""
    return _idx_dataset("mnist", arg, cfg, ["mnist", "MNIST/raw", "MNIST"],
                        [str(i) for i in range(10)], _download_hint("mnist", "mnist"))


@DATASETS.register("fashion-mnist")
def fashion_mnist(arg: str, cfg):
    """Zalando's Fashion-MNIST: 60,000 train / 10,000 test, 28x28 grey, 10 clothing classes."""
    return _idx_dataset(
        "fashion-mnist", arg, cfg,
        ["fashion_mnist", "fashion-mnist", "FashionMNIST/raw", "FashionMNIST"], FASHION_CLASSES,
        _download_hint("fashion-mnist", "fashion_mnist",
                       "; on Debian `apt-get install dataset-fashion-mnist` installs them in "
                       "/usr/share/datasets/fashion-mnist/"))


# --------------------------------------------------------------------------- CIFAR-10

CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
CIFAR_DIRS = ["cifar-10-batches-py", "cifar10/cifar-10-batches-py",
              "CIFAR10/cifar-10-batches-py", "cifar10"]


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: a batch file cannot run code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One python batch -> (uint8 N x 3 x 32 x 32, int64 labels)."""
    try:
        with open(path, "rb") as f:
            d = _SafeUnpickler(f, encoding="bytes").load()
        d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
        data = np.asarray(d["data"], dtype=np.uint8)
        labels = np.asarray(d["labels"], dtype=np.int64)
        return data.reshape(-1, 3, 32, 32), labels
    except (OSError, EOFError, pickle.UnpicklingError, KeyError, ValueError, AttributeError,
            TypeError) as e:
        raise DataError(f"{path}: not a readable CIFAR-10 python batch ({e}); delete the "
                        "folder and download it again") from None


def download_cifar(dest_root: Path | None = None, mirror: str | None = None) -> Path:
    """Download cifar-10-python.tar.gz into the cache (or ``dest_root``), unpack it to
    ``cifar10/cifar-10-batches-py/`` there, delete the archive; returns the batches folder."""
    folder = download("cifar10", dest_root=dest_root, mirror=mirror)
    tar_path = folder / CHECKSUMS["cifar10"].files[0].name
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".extract-"))
    try:
        with tarfile.open(tar_path, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12
                tar.extractall(tmp, filter="data")
            else:  # refuse absolute paths, "..", links and devices ourselves
                for m in tar.getmembers():
                    if not (m.isfile() or m.isdir()) or m.name.startswith("/") or \
                            ".." in Path(m.name).parts:
                        raise DataError(f"{tar_path}: unsafe member {m.name!r}")
                tar.extractall(tmp)
        target = folder / "cifar-10-batches-py"
        if target.exists():
            shutil.rmtree(target)
        (tmp / "cifar-10-batches-py").rename(target)
    except (OSError, tarfile.TarError) as e:
        raise DataError(f"could not unpack {tar_path}: {e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    tar_path.unlink(missing_ok=True)  # 170 MB, no longer needed
    return folder / "cifar-10-batches-py"


@DATASETS.register("cifar10")
def cifar10(arg: str, cfg):
    """CIFAR-10: 50,000 train / 10,000 test, 32x32 RGB, 10 classes (or the 4k/1k subset)."""
    split = get_split(arg, cfg)
    required = [b for part in _parts(split) for b in CIFAR_BATCHES[part]]
    folder, looked = find_first(cfg.root, CIFAR_DIRS, required)
    subset = None
    if folder is None:
        subset, looked_sub = find_first(cfg.root, ["cifar10_subset"], ["cifar10_subset.npz"])
        looked += looked_sub
    how = (_download_hint("cifar10", "cifar-10-batches-py") +
           " Or unpack cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html.")
    if folder is None and subset is None and cfg.download:
        try:
            download_cifar()
        except DataError as e:
            raise DataError(missing_message(f"cifar10 ({split})", looked, how) +
                            f"\nThe download failed: {e}") from None
        folder, looked = find_first(cfg.root, CIFAR_DIRS, required)
    if folder is not None:
        parts = [read_cifar_batch(folder / b) for b in required]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        source = str(folder)
    elif subset is not None:
        path = subset / "cifar10_subset.npz"
        log.warning("cifar10: using the PARTIAL CIFAR-10 in %s (4,000 train / 1,000 test "
                    "images, not 50,000 / 10,000); for the full set run `gankit data download "
                    "cifar10`", path)
        try:
            with np.load(path, allow_pickle=False) as z:
                xs = [z[f"x_{p}"] for p in _parts(split)]
                ys = [z[f"y_{p}"] for p in _parts(split)]
        except (OSError, KeyError, ValueError) as e:
            raise DataError(f"{path}: not a readable cifar10_subset.npz ({e})") from None
        x = np.concatenate(xs).transpose(0, 3, 1, 2)
        y = np.concatenate(ys).astype(np.int64)
        source = f"{path} (partial: 4,000 train / 1,000 test)"
    else:
        raise DataError(missing_message(f"cifar10 ({split}: {', '.join(required)})", looked, how))
    return finish(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y), cfg,
                  class_names=CIFAR10_CLASSES, source=source, num_classes=10)


# --------------------------------------------------------------------------- CelebA

CELEBA_DIRS = ["celeba_subset/img", "celeba/img_align_celeba", "img_align_celeba",
               "celeba/img_align_celeba/img_align_celeba", "celeba_subset", "celeba"]
CELEBA_PARTS = {"train": (1, 162770), "test": (182638, 202599)}


def _celeba_select(split: str):
    if split == "all":
        return None
    lo, hi = CELEBA_PARTS[split]

    def keep(rel: str) -> bool:
        stem = Path(rel).stem
        return not stem.isdigit() or lo <= int(stem) <= hi

    return keep


@DATASETS.register("celeba")
def celeba(arg: str, cfg):
    """CelebA aligned faces (JPEG folder), unlabelled RGB, centre square resized to 64x64."""
    split = get_split(arg, cfg)
    folder, looked = find_first(cfg.root, CELEBA_DIRS, ["000001.jpg"])
    if folder is None:
        raise DataError(missing_message(
            "celeba (aligned face images 000001.jpg ...)", looked,
            "CelebA cannot be downloaded automatically (it is on Google Drive, for "
            "non-commercial research use). Download img_align_celeba.zip from "
            "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html and unzip it into "
            f"{cache_dir() / 'celeba'}/, or use folder:PATH with any folder of faces."))
    from gankit.data.folder import load_folder

    images, _, _ = load_folder(folder, resolution=cfg.resolution or 64, channels=cfg.channels,
                               center_crop=cfg.center_crop, limit=cfg.limit,
                               select=_celeba_select(split),
                               what=f"{split} split (CelebA's official partition by image "
                                    "number: train 1..162770, test 182638..202599); use "
                                    "split all for every image present")
    return finish(images, None, cfg, source=str(folder), transform=False)
