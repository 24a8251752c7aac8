"""Image sources for evaluation: a generator, a folder, an npz file or a named dataset.

Every source yields uint8 N x C x H x W batches (the metrics boundary) and knows how many
images it can give and how to describe itself in a protocol line. ``open_source(spec)`` reads:

* a run directory, an exported generator folder or a checkpoint file -> samples of the
  generator (``gankit.sampling.load_generator``), seeds 0..N-1, class labels cycling 0..K-1;
* ``folder:PATH`` or an existing folder of images -> the images, sorted by file name;
* ``npz:PATH`` or an existing ``.npz`` -> its first uint8 image array (NHWC or NCHW);
* ``NAME[:SPLIT]`` -> a dataset from ``gankit.data.load_dataset`` (``cifar10:test``).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from gankit.errors import DataError, GankitError

IMAGE_EXTENSIONS = {".bmp", ".jpg", ".jpeg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}
SPLITS = ("train", "test", "all")


class ImageSource:
    kind = ""
    spec = ""
    split = ""

    def __len__(self) -> int:
        raise NotImplementedError

    def batches(self, batch_size: int, num: int) -> Iterator[torch.Tensor]:
        raise NotImplementedError

    def describe(self) -> str:
        return self.spec

    def cache_key(self) -> str | None:
        """A stable name for the reference-statistics cache; None = never cache."""
        return None


class TensorSource(ImageSource):
    """Images already in memory as uint8 N x C x H x W."""

    def __init__(self, images: torch.Tensor, spec: str, kind: str = "tensor", split: str = "",
                 cacheable: bool = False, origin: str = ""):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(f"{spec}: images must be uint8 N x C x H x W, got {images.dtype} "
                            f"{tuple(images.shape)}")
        self.images, self.spec, self.kind, self.split = images, spec, kind, split
        self.cacheable, self.origin = cacheable, origin

    def __len__(self):
        return self.images.shape[0]

    def batches(self, batch_size, num):
        for lo in range(0, min(num, len(self)), batch_size):
            yield self.images[lo:min(lo + batch_size, num)]

    def cache_key(self):
        # where the files were found is part of the key: a partial and a full copy of a
        # dataset give different statistics
        return f"{self.spec}@{self.origin}" if self.cacheable else None


class FolderSource(ImageSource):
    """Image files in a folder (not recursive), sorted by name, decoded lazily per batch."""

    kind = "folder"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise DataError(f"{self.path} is not a folder of images")
        self.files = sorted(p for p in self.path.iterdir()
                            if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if not self.files:
            raise DataError(f"no image files ({', '.join(sorted(IMAGE_EXTENSIONS))}) in "
                            f"{self.path}")
        self.spec = f"folder:{self.path}"

    def __len__(self):
        return len(self.files)

    def batches(self, batch_size, num):
        from PIL import Image

        size = None
        for lo in range(0, min(num, len(self.files)), batch_size):
            arrs = []
            for p in self.files[lo:min(lo + batch_size, num)]:
                with Image.open(p) as im:
                    a = np.asarray(im.convert("RGB"))
                if size is None:
                    size = a.shape
                elif a.shape != size:
                    raise DataError(f"{p} is {a.shape[1]}x{a.shape[0]}, the first image was "
                                    f"{size[1]}x{size[0]}: all images must have one size")
                arrs.append(a)
            yield torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2)


def _npz_images(path: Path) -> torch.Tensor:
    with np.load(path) as z:
        keys = [k for k in z.files if z[k].dtype == np.uint8 and z[k].ndim in (3, 4)]
        if not keys:
            raise DataError(f"{path} holds no uint8 image array (N x H x W [x C])")
        a = z["x" if "x" in keys else keys[0]]
    if a.ndim == 3:
        a = a[:, None]
    elif a.shape[-1] in (1, 3) and a.shape[1] not in (1, 3):
        a = a.transpose(0, 3, 1, 2)  # NHWC -> NCHW
    return torch.from_numpy(np.ascontiguousarray(a))


class GeneratorSource(ImageSource):
    """Samples of a trained generator for seeds 0..N-1 (conditional models choose the labels:
    seed mod classes, see ``GANModel.sample_labels``), quantised to uint8."""

    kind = "generator"

    def __init__(self, path_or_generator, device="cpu", spec: str = ""):
        if isinstance(path_or_generator, (str, Path)):
            from gankit.sampling import load_generator

            self.gen = load_generator(path_or_generator)
            self.spec = spec or f"generator:{path_or_generator}"
        else:  # an object with .generate(seeds) -> float images in [-1, 1]
            self.gen = path_or_generator
            self.spec = spec or "generator"

    def __len__(self):
        return 1 << 62  # as many as asked for

    def batches(self, batch_size, num):
        from gankit.data.base import to_uint8

        for lo in range(0, num, batch_size):
            seeds = list(range(lo, min(lo + batch_size, num)))
            with torch.inference_mode():
                x = self.gen.generate(seeds)
            yield to_uint8(x).cpu()


def open_source(spec: str | Path, device="cpu") -> ImageSource:
    """Turn a command-line SOURCE/--ref string into an :class:`ImageSource` (see module doc)."""
    text = str(spec)
    path = Path(text)
    if text.startswith("folder:"):
        return FolderSource(text[len("folder:"):])
    if text.startswith("npz:") or path.suffix == ".npz":
        p = Path(text[4:] if text.startswith("npz:") else text)
        if not p.is_file():
            raise DataError(f"npz file {p} does not exist")
        return TensorSource(_npz_images(p), f"npz:{p}", kind="npz")
    if path.exists():
        is_model = path.is_file() and path.suffix in (".pt", ".pth", ".safetensors")
        if path.is_dir():
            is_model = any((path / n).exists() for n in
                           ("checkpoints", "config.json", "generator.safetensors",
                            "config.yaml"))
        if is_model:
            return GeneratorSource(path, device)
        if path.is_dir():
            return FolderSource(path)
        raise DataError(f"{path}: not a folder, .npz, checkpoint or run directory")
    return dataset_source(text)


def training_source(data_cfg, dataset=None) -> ImageSource:
    """A run's training images exactly as its model sees them (resolution, channels, crop,
    limit), for ``data_cfg`` (a :class:`~gankit.config.DataConfig`); ``dataset``: the already
    loaded data set, else it is loaded."""
    if dataset is None:
        from gankit.data import load_dataset

        dataset = load_dataset(data_cfg)
    d = data_cfg
    images = getattr(dataset, "images", None)
    if images is None and hasattr(dataset, "decode"):  # a streamed set: decoded per batch
        return StreamedSource(dataset, d)
    if images is None or images.dtype != torch.uint8:
        return dataset_source(d.dataset)
    spec = f"{d.dataset}:{d.split}@{images.shape[-1]}px{images.shape[1]}ch"
    if d.limit:
        spec += f"-limit{d.limit}"
    return TensorSource(images, spec, kind="dataset", split=d.split, cacheable=True,
                        origin=str(getattr(dataset, "source", "")))


class StreamedSource(ImageSource):
    """A streamed training set (:class:`gankit.data.stream.StreamDataset`), decoded one batch
    at a time at the run's shape, in file order (no flips)."""

    kind = "dataset"

    def __init__(self, dataset, data_cfg):
        self.dataset, self.split = dataset, data_cfg.split
        info = dataset.info
        self.spec = f"{data_cfg.dataset}:{data_cfg.split}@{info.resolution}px{info.channels}ch"
        if data_cfg.limit:
            self.spec += f"-limit{data_cfg.limit}"
        self.origin = str(getattr(dataset, "source", "")).split(" (")[0]

    def __len__(self):
        return len(self.dataset)

    def batches(self, batch_size, num):
        for lo in range(0, min(num, len(self)), batch_size):
            yield self.dataset.decode(torch.arange(lo, min(lo + batch_size, num)))

    def cache_key(self):
        return f"{self.spec}@{self.origin}"


def dataset_source(spec: str) -> TensorSource:
    """A named dataset (``mnist``, ``cifar10:test``) as uint8, via ``gankit.data``."""
    from gankit.config import DataConfig
    from gankit.data import load_dataset, split_spec
    from gankit.data.base import to_uint8

    name, arg = split_spec(spec)
    split = arg if arg in SPLITS else "train"
    try:
        cfg = DataConfig(dataset=name if arg in SPLITS or not arg else spec, split=split,
                         labels=False)
        ds = load_dataset(cfg)
    except GankitError as e:
        raise DataError(f"cannot open {spec!r} as an image source ({e}); give a run directory, "
                        "an exported generator, a folder of images, an .npz or a dataset "
                        "name such as cifar10:test") from None
    images = getattr(ds, "images", None)
    if images is None or images.dtype != torch.uint8:  # a dataset without a uint8 store
        idx = torch.arange(len(ds))
        images = to_uint8(ds.get_batch(idx, torch.Generator(), torch.device("cpu"))["real"])
    return TensorSource(images, f"{name}:{split}", kind="dataset", split=split, cacheable=True,
                        origin=str(getattr(ds, "source", "")))
