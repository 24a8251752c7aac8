"""Refuse a config that cannot fit in memory before anything large is allocated.

``train.batch_size=100000000`` or ``model.ngf=100000`` used to end, after a long wait, in an
allocator traceback. The trainer now estimates what the run will hold and compares it with
the memory the machine has free:

* before the data is loaded (:func:`check_config`): a float batch of images with its
  activations, the fixed sample grid, and the thread count;
* once the data's shape is known (:func:`check_model`): the model built on PyTorch's ``meta``
  device (shapes only, no memory), whose parameter count gives weights, gradients, Adam
  moments and the EMA copy.

The estimates are deliberately rough (within a small factor); they only need to tell
"fits" from "cannot possibly fit", and they name the key to lower.
"""
from __future__ import annotations

import dataclasses
import os

import torch

from gankit.errors import ConfigError

ACTIVATION_FACTOR = 64  # activations kept for backward, per input value (measured: DCGAN ~20-40)
STATE_COPIES = 5  # weights, gradients, two Adam moments, EMA / slack


def available_bytes() -> int:
    """Memory the system can give this process now (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - other systems
        return 1 << 62


def _gib(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


def _refuse_if_too_big(terms: list[tuple[float, str, str]], free: int) -> None:
    total = sum(t[0] for t in terms)
    if total <= 0.9 * free:
        return
    size, what, key = max(terms)
    raise ConfigError(f"this run needs about {_gib(total)} of memory ({what}: {_gib(size)}) "
                      f"but {_gib(free)} are free; lower {key}")


def check_config(cfg, free: int | None = None) -> None:
    """Checks that need only the config (before the data set is loaded)."""
    t, d = cfg.train, cfg.data
    cores = os.cpu_count() or 1
    if t.threads > 8 * cores:
        raise ConfigError(f"train.threads={t.threads} on a machine with {cores} cores; use at "
                          f"most {cores} (0 = choose automatically)")
    free = available_bytes() if free is None else free
    side = d.resolution
    channels = d.channels or 3
    z_key = "model.z_dim" if "model.z_dim" in _oversized_keys(cfg.model) else "train.grid_size"
    terms = [(float(t.grid_size) * 4 * (getattr(cfg.model, "z_dim", 0) or 0),
              "the fixed sample grid's latents", z_key)]
    if side:
        image = float(channels) * side * side
        terms += [
            (t.batch_size * image * 4 * ACTIVATION_FACTOR, "a batch and its activations",
             "train.batch_size" if side <= 1024 else "data.resolution"),
            (t.grid_size * image * 4, "the fixed sample grid", "train.grid_size"),
        ]
    _refuse_if_too_big(terms, free)


def check_model(cfg, info, free: int | None = None) -> int:
    """Build the model on the meta device and check its state fits; returns its parameters."""
    from gankit.models.base import build_model

    free = available_bytes() if free is None else free
    try:
        with torch.device("meta"):
            model = build_model(cfg.model, info)
    except ConfigError:
        raise
    except Exception:  # noqa: BLE001 - a model that cannot be built on meta is checked later
        return -1
    params = sum(p.numel() for p in model.parameters())
    big = _oversized_keys(cfg.model)
    key = " or ".join(big) if big else "the model's sizes (model.*)"
    if not big and info.num_classes > 10_000:  # e.g. one stray label of 1e6 in an npz
        key = (f"the number of classes: the data has {info.num_classes:,} (its largest label "
               f"+ 1); check its labels, which must run 0..K-1")
    image = float(info.channels) * info.resolution ** 2 if info.resolution else float(info.dim)
    terms = [(float(params) * 4 * STATE_COPIES,
              f"{params:,} parameters with gradients, Adam state and EMA", key),
             (cfg.train.batch_size * image * 4 * ACTIVATION_FACTOR,
              "a batch and its activations", "train.batch_size")]
    _refuse_if_too_big(terms, free)
    return params


def _oversized_keys(model_cfg) -> list[str]:
    """Size-like model keys set far above their defaults (the likely culprits)."""
    out = []
    for f in dataclasses.fields(model_cfg):
        v, default = getattr(model_cfg, f.name), f.default
        if isinstance(v, bool) or not isinstance(v, (int, list)):
            continue
        if isinstance(v, list) and v and all(isinstance(x, int) for x in v):
            v = max(v)
            default = max(f.default_factory()) if f.default_factory is not dataclasses.MISSING \
                and f.default_factory() else 1
        if isinstance(default, int) and not isinstance(default, bool) and default > 0 \
                and isinstance(v, int) and v >= 16 * default:
            out.append(f"model.{f.name}")
    return out
