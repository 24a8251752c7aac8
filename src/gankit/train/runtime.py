"""Device, precision and thread choices for a run (each one logged, never silent)."""
from __future__ import annotations

import os
from contextlib import nullcontext

import torch
from torch import nn

from gankit.errors import ConfigError


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device: {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("train.device=cuda but no CUDA GPU is available; use train.device=cpu")
    if device.type == "cuda" and device.index is None:
        device = torch.device(f"cuda:{local_rank}")
    return device


def cpu_has_bf16() -> bool:
    """True when this CPU computes bf16 natively (AVX512-BF16 or AMX), where autocast pays off."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:  # pragma: no cover - older torch
        return False


def resolve_amp(mode: str, device: torch.device, data_kind: str = "image"
                ) -> torch.dtype | None:
    """The autocast dtype for ``train.amp`` (None = full fp32).

    ``auto`` keeps point data (``ring8``, ``grid25``) in fp32: bf16 holds 8 significant bits,
    so near radius 1 it cannot tell coordinates 0.008 apart, and ring8's modes are 0.01 wide
    (grid25's 0.05 at coordinates up to 4, where bf16's step is 0.03)."""
    if mode == "off":
        return None
    if mode == "fp16":
        if device.type != "cuda":
            raise ConfigError("train.amp=fp16 needs a CUDA device; on CPU use train.amp=bf16")
        return torch.float16
    if mode == "bf16":
        return torch.bfloat16
    # auto: bf16 where the hardware does it natively, else fp32
    if data_kind == "points":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return torch.bfloat16 if cpu_has_bf16() else None


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        return os.cpu_count() or 1


def choose_threads(requested: int, model: nn.Module, world: int = 1) -> int:
    """CPU threads for this run.

    Any model on a machine of two cores or fewer gets one thread, and so do small
    fully-connected models anywhere; convolutional models on bigger machines get the cores this
    process may use, shared between local ranks. ``train.threads`` overrides the choice, which
    is logged at the start of a run.
    """
    if requested:
        return requested
    cores = max(1, available_cores() // max(1, world))
    if cores <= 2 or not is_conv_model(model):
        # Measured on a 2-core VM (benchmarks/speed/RESULTS.md): on an idle machine 2 threads
        # train DCGAN-32 1.8x and the MNIST MLP 1.3x faster than 1; with one other busy
        # process, 1 thread was up to 10x faster than 2. Small machines are usually shared, and
        # the loss when idle is bounded while the loss under load is not, so they get 1 thread
        # (train.threads=2 on a machine you know is idle). The choice is deterministic on
        # purpose: conv results depend on the thread count in the last bits, and two runs of
        # one config must match exactly.
        return 1
    return cores


def is_conv_model(model: nn.Module) -> bool:
    return any(isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) for m in model.modules())


#: glibc's largest M_MMAP_THRESHOLD (32 MiB on 64-bit systems)
MMAP_THRESHOLD = 32 * 2 ** 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters, <malloc.h>


def keep_freed_memory() -> str:
    """Let this process reuse freed blocks of up to 32 MiB instead of returning them to the
    system (glibc only; what the choice was, for the log).

    By default glibc serves blocks above a *dynamic* threshold (128 kB at start, raised to the
    largest such block freed so far) with fresh ``mmap`` pages and unmaps them when freed, so
    every training step pays page faults (and zeroing) for its activations again, unless the
    process happened to free one large block earlier (decoding a data set into memory does).
    Measured (benchmarks/data/RESULTS.md, a 128x128 DCGAN at batch 32 on one thread): a
    streamed run spent 8-13 ms of system time per ~75 ms step on 5,000-6,000 page faults, an
    in-memory one 1 ms. Fixing the thresholds (as ``MALLOC_MMAP_THRESHOLD_=33554432
    MALLOC_TRIM_THRESHOLD_=67108864`` would) keeps up to 64 MiB of freed memory resident.
    Left alone when the environment sets glibc's malloc tunables itself.
    """
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if ("MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ
            or "mmap_threshold" in tunables or "trim_threshold" in tunables):
        return "malloc thresholds: left as the environment sets them"
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return "malloc thresholds: system default (no glibc mallopt)"
    if not (mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            and mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD)):
        return "malloc thresholds: system default (mallopt refused)"
    return f"malloc thresholds: freed blocks up to {MMAP_THRESHOLD >> 20} MiB are reused"
