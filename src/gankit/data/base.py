"""In-memory datasets and the infinite, exactly resumable batch loader.

All data sets gankit trains on fit in memory once decoded at the training resolution
(MNIST: 47 MB, 5,000 faces at 64x64: 61 MB), so a dataset is a few tensors: images as
uint8 NCHW, optional int64 labels. Batches are converted to float in [-1, 1] on the fly,
on the training device, with augmentations done as tensor ops (no Python loop per image).

The loader's order is a pure function of (seed, number of batches drawn): its whole state is
one integer, so a resumed run draws exactly the batches an uninterrupted run would. Under
DDP every rank walks the same global permutation and takes its own contiguous slice of each
global batch, so N processes with batch B see what one process with batch N*B sees.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from gankit.errors import DataError
from gankit.utils.tensors import to_uint8  # noqa: F401 - also imported from here


@dataclass
class DataInfo:
    """What a model needs to know about its data to build its networks."""

    kind: str = "image"          # image | paired | unpaired | points
    channels: int = 1            # image channels (per domain for paired/unpaired)
    resolution: int = 28         # square image size; 0 for points
    num_classes: int = 0         # 0 = unlabelled
    dim: int = 0                 # feature size for kind == "points"
    class_names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataInfo:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (exact inverse of :func:`to_uint8` on the grid)."""
    return images.float().div_(127.5).sub_(1.0)


def random_flip(x: torch.Tensor, gen: torch.Generator, *others: torch.Tensor):
    """Flip each image horizontally with probability 1/2; ``others`` get the same flips."""
    mask = torch.rand(x.shape[0], generator=gen, device=gen.device) < 0.5
    mask = mask.to(x.device).view(-1, *([1] * (x.dim() - 1)))
    out = [torch.where(mask, t.flip(-1), t) for t in (x, *others)]
    return out[0] if not others else tuple(out)


class Dataset:
    """Base class: a fixed collection of examples, drawn as batches of float tensors."""

    info: DataInfo
    source: str = ""            # where the files were found (shown by `gankit data info`)

    def __len__(self) -> int:
        raise NotImplementedError

    def get_batch(self, index: torch.Tensor, gen: torch.Generator,
                  device: torch.device) -> dict[str, torch.Tensor]:
        """Examples ``index`` as float tensors on ``device``; ``gen`` drives augmentation."""
        raise NotImplementedError

    def loader(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1,
               device: str | torch.device = "cpu") -> BatchLoader:
        return BatchLoader(self, batch_size, seed, rank, world, torch.device(device))

    def describe(self) -> dict[str, Any]:
        return {"examples": len(self), **self.info.to_dict(), "source": self.source}


class ImageDataset(Dataset):
    """Images (uint8 N x C x H x W) with optional labels (int64 N)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor | None = None, *,
                 class_names: list[str] | None = None, flip: bool = False, source: str = "",
                 num_classes: int | None = None):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DataError(f"images must be uint8 N x C x H x W, got {images.dtype} "
                            f"{tuple(images.shape)}")
        if images.shape[0] == 0:
            raise DataError(f"no images in {source or 'the dataset'}")
        if labels is not None:
            labels = labels.to(torch.int64)
            if labels.shape != (images.shape[0],):
                raise DataError(f"{source}: {labels.shape[0]} labels for {images.shape[0]} images")
        self.images = images.contiguous()
        self.labels = labels
        self.flip = flip
        self.source = source
        if num_classes is None:
            num_classes = int(labels.max()) + 1 if labels is not None else 0
        names = list(class_names or [])
        self.info = DataInfo("image", images.shape[1], images.shape[2], num_classes,
                             class_names=names)
        self._device_cache: dict[torch.device, torch.Tensor] = {}

    def __len__(self) -> int:
        return self.images.shape[0]

    def _on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor | None]:
        # keep a uint8 copy on the accelerator: 4x smaller than float, no host copies per step
        if device.type == "cpu":
            return self.images, self.labels
        if device not in self._device_cache:
            self._device_cache[device] = (self.images.to(device), None if self.labels is None
                                          else self.labels.to(device))
        return self._device_cache[device]

    def get_batch(self, index, gen, device):
        images, labels = self._on(device)
        x = to_float(images[index.to(images.device)])
        if self.flip:
            x = random_flip(x, gen)
        batch = {"real": x}
        if labels is not None:
            batch["label"] = labels[index.to(labels.device)]
        return batch


class BatchLoader:
    """Infinite shuffled batches; state = number of batches drawn (see module docstring)."""

    def __init__(self, dataset: Dataset, batch_size: int, seed: int = 0, rank: int = 0,
                 world: int = 1, device: torch.device = torch.device("cpu")):
        self.dataset, self.batch_size, self.seed = dataset, batch_size, seed
        self.rank, self.world, self.device = rank, world, device
        self.drawn = 0
        self._perm_epoch = -1
        self._perm: torch.Tensor | None = None

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perm = torch.randperm(len(self.dataset), generator=g)
            self._perm_epoch = epoch
        return self._perm

    def _walk(self, k: int, n: int, permutation, whole: bool = False) -> torch.Tensor:
        """Indices of global batch ``k`` over ``permutation(epoch)`` of ``n`` items: this rank's
        contiguous slice, or (``whole``) the entire global batch. A batch may span epochs."""
        size = self.batch_size * (self.world if whole else 1)
        start = (k * self.world + (0 if whole else self.rank)) * self.batch_size
        pos = torch.arange(start, start + size)
        epochs = pos // n
        out = torch.empty_like(pos)
        for e in epochs.unique().tolist():
            m = epochs == e
            out[m] = permutation(int(e))[pos[m] % n]
        return out

    def indices(self, k: int, whole: bool = False) -> torch.Tensor:
        """Indices of this rank's part of global batch ``k`` (or of all of it)."""
        return self._walk(k, len(self.dataset), self._permutation, whole)

    def _augment_generator(self, k: int) -> torch.Generator:
        # one generator for the whole global batch, the same on every rank
        return torch.Generator().manual_seed(self.seed * 7919 + k)

    def _my_slice(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        if self.world == 1:
            return batch
        lo = self.rank * self.batch_size
        return {key: v[lo:lo + self.batch_size] for key, v in batch.items()}

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, torch.Tensor]:
        # Every rank prepares the whole global batch (indexing and uint8 -> float of in-memory
        # data: cheap) with one shared generator and keeps its slice, so random augmentation
        # (flips, crops, jitter) is identical to one process running the global batch.
        k = self.drawn
        self.drawn += 1
        batch = self.dataset.get_batch(self.indices(k, whole=True), self._augment_generator(k),
                                       self.device)
        return self._my_slice(batch)

    def state_dict(self) -> dict[str, int]:
        return {"drawn": self.drawn, "seed": self.seed, "batch_size": self.batch_size,
                "world": self.world}

    def load_state_dict(self, state: dict[str, int]) -> None:
        # draws are counted in global batches: resuming with another world size but the same
        # global batch continues the same sequence of examples
        global_batch = state["batch_size"] * state.get("world", 1)
        if global_batch != self.batch_size * self.world:
            raise DataError("cannot resume the data order with a different global batch size "
                            f"({global_batch} before, {self.batch_size * self.world} now)")
        self.drawn = int(state["drawn"])


class NoiseSource:
    """Seeded noise for training steps, identical for any number of processes.

    ``randn(n, *shape)`` draws the global batch (n x world) from one CPU generator shared by
    every rank and returns this rank's slice, so single- and multi-process runs see the same
    latents. Its state is saved in checkpoints.
    """

    def __init__(self, seed: int, rank: int = 0, world: int = 1,
                 device: torch.device = torch.device("cpu")):
        self.gen = torch.Generator().manual_seed(seed + 0x5EED)
        self.rank, self.world, self.device = rank, world, device

    def randn(self, n: int, *shape: int) -> torch.Tensor:
        full = torch.randn(n * self.world, *shape, generator=self.gen)
        return full[self.rank * n:(self.rank + 1) * n].to(self.device, non_blocking=True)

    def rand(self, n: int, *shape: int) -> torch.Tensor:
        full = torch.rand(n * self.world, *shape, generator=self.gen)
        return full[self.rank * n:(self.rank + 1) * n].to(self.device, non_blocking=True)

    def state_dict(self) -> dict[str, Any]:
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
