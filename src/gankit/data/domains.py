"""Domain adaptation data: a labelled *source* domain and an unlabelled *target* domain.

``domains:SOURCE,TARGET`` pairs any two dataset specs of this data layer, e.g.
``domains:mnist,mnistm-like`` or ``domains:folder:/data/photos,folder:/data/sketches`` (the
source folder needs class subfolders; the target folder may be flat). Both are loaded with the
run's ``data.split``, ``data.resolution``, ``data.limit`` and ``data.channels``; with
``channels: 0`` a 1-channel domain is made 3-channel when the other one has colour. A folder
source without ``data.resolution`` fixes the size of both.

Every batch (kind ``domains``) holds

* ``real`` / ``label``: a batch of source images and their labels;
* ``target``: an equally sized batch of target images, drawn from the target's own seeded
  permutation (the domains may differ in size), **without** labels.

Target labels, where the target set has them, stay in the dataset (``labels_B``) for
evaluation only (:func:`target_split`); no batch carries them, so a model trained on this set
never sees one.

``mnistm-like`` builds a target domain the way Ganin & Lempitsky (2015) built MNIST-M: each
MNIST digit is blended with a random 28 x 28 colour patch of a natural photo,
``out = |patch - digit|`` per channel. The original patches came from BSDS500; we use the
CIFAR-10 images available offline (the 4,000/1,000-image subset of ``shared/data`` where the
full set is missing): patches of the CIFAR *train* images for the train split and of the
*test* images for the test split, so test backgrounds are unseen. As with MNIST-M, the digits
are MNIST's own (train digits for the train split, test digits for the test split). The set is
a pure function of its seed: ``mnistm-like`` (seed 0), ``mnistm-like:seed=3``,
``mnistm-like:test`` (a split overrides ``data.split``).
"""
from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import torch

from gankit.data.base import DataInfo, ImageDataset, to_float
from gankit.data.paired import UnpairedDataset, mirror
from gankit.data.transforms import finish, to_channels
from gankit.errors import DataError
from gankit.registry import DATASETS

if TYPE_CHECKING:  # pragma: no cover
    from gankit.config import DataConfig

MNISTM_SEED_SALT = 2015  # the paper's year: keeps the patch stream apart from other seeds
_CHUNK = 8192


class DomainDataset(UnpairedDataset):
    """Source images ``A`` with labels, target images ``B`` (labels kept for evaluation only).

    The loader is :class:`~gankit.data.paired.UnpairedLoader`: source and target indices walk
    two independent seeded permutations, so the state is still one integer and resume is exact.
    """

    def __init__(self, source: torch.Tensor, labels: torch.Tensor, target: torch.Tensor, *,
                 target_labels: torch.Tensor | None = None, num_classes: int = 0,
                 class_names: list[str] | None = None, flip: bool = False, source_desc: str = ""):
        super().__init__(source, target, flip=flip, source=source_desc,
                         labels_A=labels.to(torch.int64), labels_B=target_labels)
        if labels.shape != (source.shape[0],):
            raise DataError(f"{source_desc}: {labels.shape[0]} labels for {source.shape[0]} "
                            f"source images")
        k = max(num_classes, int(labels.max()) + 1)
        self.info = DataInfo("domains", source.shape[1], source.shape[-1], k,
                             class_names=list(class_names or []))

    @property
    def labels(self) -> torch.Tensor:
        """The source labels (what a model trains on; `gankit data info` counts them)."""
        return self.labels_A

    def get_batch(self, index, gen, device, index_b=None):
        index = index.cpu()
        index_b = index % self.B.shape[0] if index_b is None else index_b.cpu()
        real = to_float(self.A[index].to(device))
        target = to_float(self.B[index_b].to(device))
        if self.flip:
            (real,), (target,) = mirror([real], gen), mirror([target], gen)
        return {"real": real, "label": self.labels_A[index].to(device), "target": target}

    def describe(self):
        d = super().describe()
        d["target_labels"] = self.labels_B is not None
        return d


def target_split(ds: DomainDataset) -> ImageDataset:
    """The target domain of ``ds`` as a labelled image set (evaluation only)."""
    if ds.labels_B is None:
        raise DataError(f"the target domain of {ds.source} has no labels, so target accuracy "
                        f"cannot be measured; give a labelled target (class subfolders)")
    return ImageDataset(ds.B, ds.labels_B, num_classes=ds.info.num_classes,
                        source=f"{ds.source} (target)")


def source_split(ds: DomainDataset) -> ImageDataset:
    """The source domain of ``ds`` as a labelled image set."""
    return ImageDataset(ds.A, ds.labels_A, num_classes=ds.info.num_classes,
                        source=f"{ds.source} (source)")


def split_domains(arg: str) -> tuple[str, str]:
    """``mnist,mnistm-like`` -> (``mnist``, ``mnistm-like``); paths may hold ``:`` but no ``,``."""
    src, sep, tgt = arg.partition(",")
    if not sep or not src.strip() or not tgt.strip() or "," in tgt:
        raise DataError(f"write a domain pair as domains:SOURCE,TARGET, e.g. "
                        f"domains:mnist,mnistm-like (got domains:{arg})")
    return src.strip(), tgt.strip()


@DATASETS.register("domains")
def domains(arg: str, cfg: DataConfig) -> DomainDataset:
    """domains:SOURCE,TARGET: a labelled source and an unlabelled target domain."""
    from gankit.data import load_dataset

    src_spec, tgt_spec = split_domains(arg)
    if src_spec.startswith("domains") or tgt_spec.startswith("domains"):
        raise DataError("domains:SOURCE,TARGET takes two plain data sets, not another pair")
    plain = dataclasses.replace(cfg, labels=True, flip=False)
    src = load_dataset(dataclasses.replace(plain, dataset=src_spec))
    res = cfg.resolution or src.info.resolution
    tgt = load_dataset(dataclasses.replace(plain, dataset=tgt_spec, resolution=res))
    for name, ds in (("source", src), ("target", tgt)):
        if not isinstance(ds, ImageDataset):
            raise DataError(f"domains: the {name} {ds.source or name!r} is not a plain image "
                            f"set (kind {ds.info.kind}); give an image data set or folder")
    if src.labels is None or src.info.num_classes < 2:
        raise DataError(f"domains: the source {src_spec!r} has no class labels; the source "
                        f"domain must be labelled (a folder needs one subfolder per class)")
    if tgt.labels is not None and tgt.info.num_classes > src.info.num_classes:
        raise DataError(f"domains: the target has {tgt.info.num_classes} classes, the source "
                        f"{src.info.num_classes}; they must share the classes")
    a, b = src.images, tgt.images
    if cfg.channels == 0 and a.shape[1] != b.shape[1]:  # grey + colour: both in colour
        a, b = to_channels(a, 3), to_channels(b, 3)
    if a.shape[1:] != b.shape[1:]:
        raise DataError(f"domains: source images are {tuple(a.shape[1:])} and target images "
                        f"{tuple(b.shape[1:])}; set data.resolution (and data.channels) so "
                        f"both load at one size")
    return DomainDataset(a, src.labels, b, target_labels=tgt.labels,
                         num_classes=src.info.num_classes, class_names=src.info.class_names,
                         flip=cfg.flip, source_desc=f"{src.source} -> {tgt.source}")


# --------------------------------------------------------------------------- MNIST-M-like

def blend_with_patches(digits: torch.Tensor, photos: torch.Tensor,
                       gen: torch.Generator) -> torch.Tensor:
    """MNIST-M blending: ``|patch - digit|`` per channel, one random photo patch per digit.

    ``digits`` uint8 N x 1 x S x S, ``photos`` uint8 M x 3 x H x W (H, W >= S). For each digit
    a photo, a crop position and a horizontal flip are drawn from ``gen``; returns uint8
    N x 3 x S x S. Vectorised in chunks (no loop per image).
    """
    n, _, s, _ = digits.shape
    m, _, h, w = photos.shape
    if h < s or w < s:
        raise DataError(f"patch photos ({h}x{w}) are smaller than the digits ({s}x{s})")
    which = torch.randint(0, m, (n,), generator=gen)
    oy = torch.randint(0, h - s + 1, (n,), generator=gen)
    ox = torch.randint(0, w - s + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    ar = torch.arange(s)
    out = torch.empty(n, 3, s, s, dtype=torch.uint8)
    for i in range(0, n, _CHUNK):
        sl = slice(i, i + _CHUNK)
        rows = (oy[sl, None] + ar)[:, :, None]                       # B x S x 1
        cols = ox[sl, None] + ar
        cols = torch.where(flip[sl, None], cols.flip(1), cols)[:, None, :]  # B x 1 x S
        pick = which[sl][:, None, None]
        patch = photos[pick, :, rows, cols].permute(0, 3, 1, 2)     # B x 3 x S x S
        out[sl] = (patch.to(torch.int16) - digits[sl].to(torch.int16)).abs().to(torch.uint8)
    return out


def _parse_mnistm_arg(arg: str) -> tuple[str, int]:
    split, seed = "", 0
    for item in filter(None, (t.strip() for t in arg.split("&"))):
        key, eq, value = item.partition("=")
        if not eq and key in ("train", "test", "all"):
            split = key
        elif eq and key == "seed" and value.strip().isdigit():
            seed = int(value)
        else:
            raise DataError(f"mnistm-like: unknown option {item!r}; use mnistm-like, "
                            f"mnistm-like:test or mnistm-like:test&seed=3")
    return split, seed


@DATASETS.register("mnistm-like")
def mnistm_like(arg: str, cfg: DataConfig) -> ImageDataset:
    """MNIST digits blended with CIFAR-10 photo patches (MNIST-M recipe), 28x28 RGB.

    10 classes; deterministic from its seed (``mnistm-like:seed=N``, default 0)."""
    split, seed = _parse_mnistm_arg(arg)
    split = split or cfg.split
    if cfg.channels == 1:
        raise DataError("mnistm-like is a colour set; leave data.channels at 0 or 3")
    base = dataclasses.replace(cfg, resolution=0, channels=0, center_crop=0, limit=0,
                               labels=True, flip=False, split=split)
    digits = DATASETS.get("mnist")("", dataclasses.replace(base, dataset="mnist"))
    photos = DATASETS.get("cifar10")("", dataclasses.replace(base, dataset="cifar10"))
    x, y = digits.images, digits.labels
    # one stream per (seed, split): train and test draw different patches
    salt = {"train": 0, "test": 1, "all": 2}[split]
    gen = torch.Generator().manual_seed(MNISTM_SEED_SALT + 1000 * seed + salt)
    # every digit is blended before data.limit applies, so the first N images are the same
    # at any limit
    images = blend_with_patches(x, photos.images, gen)
    return finish(images, y, dataclasses.replace(cfg, channels=3),
                  class_names=digits.info.class_names, num_classes=10,
                  source=f"MNIST-M-like (seed {seed}): {digits.source} digits blended with "
                         f"patches of {photos.source} images ({split})")
