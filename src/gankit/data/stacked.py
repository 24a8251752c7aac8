"""Stacked MNIST: three independently drawn MNIST digits as the R, G and B channels.

The 1,000-mode benchmark of Metz et al. (Unrolled GAN, 2017), VEEGAN (Srivastava et al. 2017)
and PacGAN (Lin et al. 2018). Example ``i`` is the triple of MNIST images
``(a_i, b_i, c_i)`` stacked as channels 0, 1, 2; its mode (and label, when labels are read) is
the digit triple ``100 * y(a_i) + 10 * y(b_i) + y(c_i)`` in 0..999. The triples are drawn
uniformly and independently, with replacement, from the chosen MNIST split by a generator
seeded with the dataset seed, so the data set is a pure function of (MNIST files, split, seed,
size) and every mode has probability 1/1000.

Spec: ``stacked-mnist[:ARG[,ARG]]`` where an ARG is a split (``train``, the default, or
``test``; ``all`` joins them) or ``seed=N`` (default 0), e.g. ``stacked-mnist:test,seed=1``.
``len`` is the size of the source split (60,000 for train) unless ``data.limit`` sets it.
``data.resolution`` is 0 or 28 (the digits' own size) or 32 (the digits centred on a
32 x 32 black canvas, for architectures that need a power of two).

Only the index triples are kept (N x 3); images are assembled per batch, so the data set costs
the memory of MNIST itself rather than three times it.
"""
from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F

from gankit.data.base import DataInfo, Dataset, random_flip, to_float
from gankit.errors import DataError
from gankit.registry import DATASETS

MODES = 1000


def digit_triples(labels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Mode id 100 a + 10 b + c of each row of ``index`` (N x 3 indices into ``labels``)."""
    y = labels[index]
    return y[:, 0] * 100 + y[:, 1] * 10 + y[:, 2]


class StackedMNIST(Dataset):
    """Triples of greyscale digits (uint8 M x 28 x 28, labels M) stacked as 3-channel images."""

    def __init__(self, digits: torch.Tensor, digit_labels: torch.Tensor, size: int,
                 seed: int = 0, resolution: int = 28, labels: bool = True, flip: bool = False,
                 source: str = ""):
        if digits.dtype != torch.uint8 or digits.dim() != 3:
            raise DataError(f"digits must be uint8 M x H x W, got {digits.dtype} "
                            f"{tuple(digits.shape)}")
        if digit_labels.shape != (digits.shape[0],):
            raise DataError(f"{digit_labels.shape[0]} labels for {digits.shape[0]} digits")
        if resolution not in (0, 28, 32):
            raise DataError(f"stacked-mnist comes at 28 or 32 pixels (32 = padded), not "
                            f"{resolution}; set data.resolution to 0, 28 or 32")
        self.digits = digits.contiguous()
        self.digit_labels = digit_labels.to(torch.int64)
        self.seed, self.size = int(seed), int(size)
        g = torch.Generator().manual_seed(self.seed)
        # independent uniform draws with replacement: each triple is equally likely
        self.index = torch.randint(digits.shape[0], (self.size, 3), generator=g)
        self.modes = digit_triples(self.digit_labels, self.index)
        self.pad = (32 - digits.shape[-1]) // 2 if resolution == 32 else 0
        self.with_labels, self.flip, self.source = labels, flip, source
        # no class names: the label is the triple itself (e.g. 407 = digits 4, 0, 7)
        self.info = DataInfo("image", 3, digits.shape[-1] + 2 * self.pad,
                             MODES if labels else 0)

    def __len__(self) -> int:
        return self.size

    @property
    def labels(self) -> torch.Tensor | None:
        """The mode (digit triple) of every example, or None when labels are off."""
        return self.modes if self.with_labels else None

    def images_at(self, index: torch.Tensor) -> torch.Tensor:
        """uint8 N x 3 x H x W images of examples ``index``."""
        x = self.digits[self.index[index.cpu()]]  # N x 3 x 28 x 28: channel k = digit k
        if self.pad:
            x = F.pad(x, (self.pad,) * 4)
        return x

    def get_batch(self, index, gen, device):
        x = to_float(self.images_at(index).to(device))
        if self.flip:
            x = random_flip(x, gen)
        batch = {"real": x}
        if self.with_labels:
            batch["label"] = self.modes[index.cpu()].to(device)
        return batch


def parse_arg(arg: str) -> tuple[str, int]:
    """``"test,seed=3"`` -> (``"test"``, 3); empty parts keep the defaults (train, 0)."""
    split, seed = "", 0
    for part in filter(None, (p.strip() for p in arg.split(","))):
        key, sep, value = part.partition("=")
        if sep and key.strip() == "seed":
            try:
                seed = int(value)
            except ValueError:
                raise DataError(f"stacked-mnist:{arg}: seed must be an integer, got "
                                f"{value!r}") from None
            if seed < 0:
                raise DataError(f"stacked-mnist:{arg}: seed must be >= 0")
        elif not sep and not split:
            split = part
        else:
            raise DataError(f"stacked-mnist:{arg}: unknown argument {part!r}; use a split "
                            "(train, test, all) and/or seed=N, e.g. stacked-mnist:test,seed=1")
    return split, seed


@DATASETS.register("stacked-mnist")
def stacked_mnist(arg: str, cfg) -> StackedMNIST:
    """Three MNIST digits as R, G, B: 1,000 modes (digit triples), 3x28x28 (mode coverage)."""
    from gankit.data.builtin import get_split, mnist

    split, seed = parse_arg(arg)
    split = get_split(split, cfg)
    if cfg.channels not in (0, 3):
        raise DataError("stacked-mnist is 3-channel (one digit per channel); set "
                        "data.channels to 0 or 3")
    if cfg.center_crop:
        raise DataError("stacked-mnist takes no center_crop; set data.center_crop=0")
    # the plain digits, untouched: resolution/channels/limit apply to the stacked set
    src_cfg = dataclasses.replace(cfg, dataset="mnist", split=split, resolution=0, channels=1,
                                  center_crop=0, flip=False, limit=0, labels=True)
    digits = mnist("", src_cfg)
    size = cfg.limit or len(digits)
    return StackedMNIST(digits.images[:, 0], digits.labels, size, seed=seed,
                        resolution=cfg.resolution, labels=cfg.labels, flip=cfg.flip,
                        source=f"{digits.source} ({split}, triples seed {seed})")
