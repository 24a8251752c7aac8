"""Streaming image data: folders and zip archives decoded per batch by DataLoader workers.

``folder:PATH`` and ``zip:PATH`` are decoded whole into memory when that is small, and
streamed otherwise (:func:`choose`): ``data.stream: auto`` streams when the decoded set
(images x C x H x W bytes) is larger than :data:`STREAM_BYTES` or a quarter of the machine's
memory; ``true`` / ``false`` force it. The choice is logged, and a streamed set says so in the
run's first log line (its ``source``).

A :class:`StreamDataset` keeps only file names and labels; ``get_batch`` decodes just the
requested indices. It trains through a :class:`StreamLoader`, a
:class:`~gankit.data.base.BatchLoader` whose batches are made by a
``torch.utils.data.DataLoader`` with ``data.workers`` processes, prefetch and (on CUDA) pinned
memory. The batches are *exactly* those of the in-memory path for the same seed:

- batch ``k``'s indices come from the same permutation walk (``BatchLoader.indices``), and
  its flips from the same generator, ``BatchLoader._augment_generator(k)``, seeded from
  ``(seed, k)`` alone, so a worker recreates it from ``k`` without any shared state; the flip
  mask is drawn for the whole global batch, as ``random_flip`` draws it, and each rank keeps
  its slice;
- the sampler hands workers the batch numbers ``drawn, drawn + 1, ...`` and the DataLoader
  delivers them in order, so the loader's state is still the one integer ``drawn`` (batches
  the trainer took; the ones prefetched beyond it are simply decoded again after a resume),
  whatever the number of workers;
- under DDP each rank decodes only its own slice of each global batch.

Images are flipped as uint8 in the workers and turned into float on the training device
(flipping commutes with the exact uint8 -> float map, so the result is bit-identical).
The first batch after a start or resume is decoded in the calling process; workers start
with the second (a one-batch loader, like the trainer's fixed preview batch, starts none).

Workers decode into a small ring of batch slots in shared memory and send back only batch
numbers (:class:`StreamLoader`): passing each batch as a tensor cost a new shared-memory
segment, its page faults and a socket round trip to the worker for its file descriptor, about
1.5 ms of CPU per batch on either side. When the model trains on the CPU, workers run at
:data:`WORKER_NICE` lower priority: on a machine whose cores are all busy, a worker woken at
normal priority preempts the training process, which then waits for its next turn behind the
machine's other jobs (measured on 2 shared cores: 87% of the in-memory images/s at normal
priority, 91% niced; benchmarks/data/RESULTS.md). On a GPU the workers keep normal priority.
"""
from __future__ import annotations

import copy
import itertools
import logging
import os

import torch

from gankit.data.archive import ImageFiles
from gankit.data.base import BatchLoader, DataInfo, Dataset, ImageDataset, to_float
from gankit.data.folder import load_folder_dataset, resolve_user_path
from gankit.data.rawzip import open_files
from gankit.errors import DataError
from gankit.registry import DATASETS

log = logging.getLogger("gankit.data")

#: data.stream=auto streams a set whose decoded size is above this (or above RAM / 4).
STREAM_BYTES = 2 * 10 ** 9
PREFETCH = 2  # batches each worker prepares ahead
#: niceness added to DataLoader workers when training on the CPU
WORKER_NICE = 10


def memory_bytes() -> int:
    """Physical memory of this machine (0 where unknown)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 0


def stream_threshold() -> int:
    ram = memory_bytes()
    return min(STREAM_BYTES, ram // 4) if ram else STREAM_BYTES


def _gb(n: int) -> str:
    if n >= 1e8:
        return f"{n / 1e9:.2f} GB"
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


def choose(setting, nbytes: int) -> tuple[bool, str]:
    """(stream?, why) for ``data.stream`` = ``setting`` and a set of ``nbytes`` decoded."""
    limit = stream_threshold()
    if setting is True or setting is False:
        return setting, f"data.stream={'true' if setting else 'false'}; {_gb(nbytes)} decoded"
    if setting != "auto":
        raise DataError(f"data.stream must be auto, true or false, not {setting!r}")
    if nbytes > limit:
        return True, f"{_gb(nbytes)} decoded > {_gb(limit)}, data.stream=auto"
    return False, f"{_gb(nbytes)} decoded <= {_gb(limit)}, data.stream=auto"


class StreamDataset(Dataset):
    """Images of an :class:`ImageFiles`, decoded on demand at the training shape."""

    def __init__(self, files: ImageFiles, *, resolution: int, channels: int,
                 center_crop: int = 0, flip: bool = False, labels: bool = True,
                 limit: int = 0, workers: int = 2, source: str = ""):
        self.files = files
        self.n = min(len(files), limit) if limit else len(files)
        self.resolution, self.channels, self.center_crop = resolution, channels, center_crop
        self.flip, self.workers = flip, workers
        self.labels = None
        names: list[str] = []
        num_classes = 0
        if labels and files.labels is not None:
            self.labels = torch.from_numpy(files.labels[:self.n].copy())
            names = list(files.class_names)
            num_classes = max(len(names), int(self.labels.max()) + 1)
        self.info = DataInfo("image", channels, resolution, num_classes, class_names=names)
        self.source = source or str(files.path)

    def __len__(self) -> int:
        return self.n

    def decode(self, index: torch.Tensor, flips: torch.Tensor | None = None,
               out: torch.Tensor | None = None) -> torch.Tensor:
        """uint8 N x C x H x W of examples ``index`` (decoded now, in this process), the
        ones where ``flips`` is true mirrored left-right. Each image is written once, straight
        into the batch (no whole-batch transpose or flip copies); into ``out`` when given."""
        c, r = self.channels, self.resolution
        if out is None:
            out = torch.empty((len(index), c, r, r), dtype=torch.uint8)
        view = out.numpy()
        mirror = [False] * len(index) if flips is None else flips.tolist()
        for j, i in enumerate(index.tolist()):
            self.files.decode_into(i, view[j], mirror=mirror[j], center_crop=self.center_crop)
        return out

    def decode_images(self, index: torch.Tensor, lo: int, hi: int, gen: torch.Generator,
                      out: torch.Tensor | None = None) -> torch.Tensor:
        """Examples ``index[lo:hi]`` as uint8 (into ``out`` when given), flipped with the mask
        ``random_flip`` would draw from ``gen`` for all of ``index`` (the global batch)."""
        flips = None
        if self.flip:
            flips = (torch.rand(len(index), generator=gen, device=gen.device) < 0.5)[lo:hi]
        return self.decode(index[lo:hi], flips, out)

    def decode_part(self, index: torch.Tensor, lo: int, hi: int,
                    gen: torch.Generator) -> dict[str, torch.Tensor]:
        """:meth:`decode_images` and the labels of ``index[lo:hi]``."""
        return self.with_labels({"real": self.decode_images(index, lo, hi, gen)}, index[lo:hi])

    def with_labels(self, batch: dict[str, torch.Tensor], index: torch.Tensor) -> dict:
        if self.labels is not None:
            batch["label"] = self.labels[index]
        return batch

    def get_batch(self, index, gen, device):
        part = self.decode_part(index.cpu(), 0, len(index), gen)
        return to_device(part, torch.device(device))

    def loader(self, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1,
               device: str | torch.device = "cpu") -> StreamLoader:
        return StreamLoader(self, batch_size, seed, rank, world, torch.device(device),
                            workers=self.workers)

    def describe(self):
        return {**super().describe(), "streamed": True}


def to_device(part: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A decoded uint8 batch -> the training batch: float [-1, 1] images on ``device``."""
    out = {k: v.to(device, non_blocking=True) for k, v in part.items()}
    out["real"] = to_float(out["real"])
    return out


class _Batches(torch.utils.data.Dataset):
    """What a DataLoader worker runs: batch number k -> this rank's slice of batch k decoded
    into slot ``k % len(ring)`` of the shared ring; only ``{"k": k}`` goes back through the
    DataLoader's queue (or ``{"k": k, "error": message}``)."""

    def __init__(self, loader: StreamLoader, ring: torch.Tensor):
        self.loader, self.ring = loader, ring

    def __getitem__(self, k: int) -> dict:
        try:
            self.loader.images(k, out=self.ring[k % len(self.ring)])
        except DataError as e:  # re-raised by the trainer's process as one clean line
            return {"k": k, "error": str(e)}
        return {"k": k}


def _lower_priority(worker_id: int) -> None:
    """Training on the CPU: workers yield to the training process (module docstring)."""
    try:
        os.nice(WORKER_NICE)
    except OSError:  # not allowed here: decode at the same priority
        pass


class _From:
    """The sampler: batch numbers start, start + 1, ... (infinite, in order)."""

    def __init__(self, start: int):
        self.start = start

    def __iter__(self):
        return itertools.count(self.start)


class StreamLoader(BatchLoader):
    """A BatchLoader whose batches are decoded by DataLoader workers (module docstring).

    The workers write the decoded uint8 images into a ring of ``PREFETCH * workers + 1``
    batch slots in shared memory, allocated when they start, and send back only batch numbers:
    no shared-memory segment is created, and no file descriptor passed, per batch. The
    DataLoader hands a worker batch ``k + PREFETCH * workers`` at the earliest when it gives the
    trainer batch ``k`` (it keeps at most that many batches outstanding), and this loader is
    done with batch ``k``'s slot (turned into float, or copied to pinned memory) before it asks
    for the next one, so a slot is never rewritten while it is read. Labels come from the
    dataset's label table in this process.
    """

    def __init__(self, dataset: StreamDataset, batch_size: int, seed: int = 0, rank: int = 0,
                 world: int = 1, device: torch.device = torch.device("cpu"), workers: int = 2):
        super().__init__(dataset, batch_size, seed, rank, world, device)
        self.workers = workers
        self._it = None
        self._ring: torch.Tensor | None = None

    def images(self, k: int, out: torch.Tensor | None = None) -> torch.Tensor:
        """This rank's slice of global batch ``k``, decoded and flipped, uint8 on the CPU."""
        whole = self.indices(k, whole=True)
        lo = self.rank * self.batch_size
        return self.dataset.decode_images(whole, lo, lo + self.batch_size,
                                          self._augment_generator(k), out)

    def part(self, k: int) -> dict[str, torch.Tensor]:
        """:meth:`images` of batch ``k`` and their labels."""
        return self.dataset.with_labels({"real": self.images(k)}, self.indices(k))

    def _start(self, first: int) -> None:
        ds = self.dataset
        slots = PREFETCH * self.workers + 1
        self._ring = torch.empty((slots, self.batch_size, ds.channels, ds.resolution,
                                  ds.resolution), dtype=torch.uint8).share_memory_()
        plan = copy.copy(self)  # what workers need, without the iterator (no reference cycle)
        plan._it = plan._ring = None
        self._it = iter(torch.utils.data.DataLoader(
            _Batches(plan, self._ring), batch_size=None, sampler=_From(first),
            num_workers=self.workers, prefetch_factor=PREFETCH,
            worker_init_fn=_lower_priority if self.device.type == "cpu" else None,
            # its own generator: the DataLoader draws worker seeds from it, and drawing them
            # from torch's global RNG would shift the training's dropout masks and noise
            generator=torch.Generator().manual_seed(self.seed)))

    def close(self) -> None:
        """Stop the workers now (a later batch starts them again)."""
        it, self._it = self._it, None
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self._ring = None

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - at interpreter exit the workers may be gone already
            pass

    def __next__(self) -> dict[str, torch.Tensor]:
        k = self.drawn
        if self._it is None:
            part = self.part(k)  # in this process; workers take over from the next batch
            if self.workers > 0:
                self._start(k + 1)
        else:
            msg = next(self._it)
            if "error" in msg:
                self.close()
                raise DataError(msg["error"])
            if msg["k"] != k:  # the DataLoader keeps order; this guards the invariant
                raise RuntimeError(f"stream loader out of order: expected batch {k}")
            real = self._ring[k % len(self._ring)]
            if self.device.type == "cuda":  # the slot is reused: copy it out before the
                real = real.pin_memory()    # asynchronous copy to the GPU reads it
            part = self.dataset.with_labels({"real": real}, self.indices(k))
        self.drawn += 1
        return to_device(part, self.device)

    def load_state_dict(self, state: dict[str, int]) -> None:
        super().load_state_dict(state)
        self.close()  # batches prefetched for the old position are dropped

    def __getstate__(self):  # a worker gets the loader without the live iterator
        d = dict(self.__dict__)
        d["_it"] = d["_ring"] = None
        return d


# --------------------------------------------------------------------------- building

def resolve_shape(files: ImageFiles, cfg) -> tuple[int, int]:
    """(resolution, channels) for ``cfg``; zeros are taken from the first image."""
    resolution, channels = cfg.resolution, cfg.channels
    if resolution == 0 or channels == 0:
        size, kind = files.probe(cfg.center_crop)
        resolution, channels = resolution or size, channels or kind
    return resolution, channels


def stream_or_none(files: ImageFiles, cfg, n: int, resolution: int, channels: int):
    """A StreamDataset when ``cfg.data.stream`` (or the size) says so, else None. Logs why."""
    nbytes = n * channels * resolution * resolution
    stream, why = choose(cfg.stream, nbytes)
    if not stream:
        log.debug("data: %d images of %s decoded into memory (%s)", n, files.path, why)
        return None
    workers = cfg.workers
    log.info("data: streaming %d images of %s with %d worker(s) (%s)", n, files.path, workers,
             why)
    source = f"{files.path} (streamed: {why}; {workers} worker(s))"
    return StreamDataset(files, resolution=resolution, channels=channels,
                         center_crop=cfg.center_crop, flip=cfg.flip, labels=cfg.labels,
                         limit=cfg.limit, workers=workers, source=source)


def decode_all(files: ImageFiles, cfg, n: int, resolution: int, channels: int) -> ImageDataset:
    """Every image of ``files`` in memory (for small sets), as the streamed path decodes it."""
    part = StreamDataset(files, resolution=resolution, channels=channels,
                         center_crop=cfg.center_crop, labels=cfg.labels, limit=n)
    images = part.decode(torch.arange(n))
    return ImageDataset(images, part.labels, class_names=part.info.class_names or None,
                        flip=cfg.flip, source=str(files.path),
                        num_classes=part.info.num_classes or None)


def _build(files: ImageFiles, cfg, memory_fallback=None) -> Dataset:
    n = min(len(files), cfg.limit) if cfg.limit else len(files)
    try:
        resolution, channels = resolve_shape(files, cfg)
    except DataError:
        if memory_fallback is None or cfg.stream is True:
            raise
        return memory_fallback()  # it skips unreadable files and says which
    ds = stream_or_none(files, cfg, n, resolution, channels)
    if ds is not None:
        return ds
    if memory_fallback is not None and not files.meta_labels:
        return memory_fallback()
    return decode_all(files, cfg, n, resolution, channels)


@DATASETS.register("folder")
def folder_dataset(arg: str, cfg) -> Dataset:
    """Your own folder of png/jpg/webp/bmp images; class subfolders become labels."""
    if not arg:
        raise DataError("folder needs a path: dataset: folder:/path/to/images")
    root = resolve_user_path(arg, kind="folder", root=cfg.root)
    if cfg.stream is False:  # the in-memory path as it always was (decoded-image cache)
        return load_folder_dataset(root, cfg)
    return _build(ImageFiles(root), cfg, lambda: load_folder_dataset(root, cfg))


@DATASETS.register("zip")
def zip_dataset(arg: str, cfg) -> Dataset:
    """A zip archive of images (+ dataset.json labels), e.g. made by `gankit data pack`
    (PNGs, or with --format raw uncompressed arrays read without decoding)."""
    if not arg:
        raise DataError("zip needs a path: dataset: zip:/path/to/images.zip")
    return _build(open_files(resolve_user_path(arg, kind="file", root=cfg.root)), cfg)
