"""Data layer: built-in datasets by name, image folders, npz files, transforms, loaders.

``load_dataset(cfg)`` turns a :class:`~gankit.config.DataConfig` into an in-memory
:class:`~gankit.data.base.Dataset`. Dataset builders are registered in
:data:`gankit.registry.DATASETS` under a name; a spec ``name:arg`` passes ``arg`` to the
builder (a path for ``folder:`` and ``npz:``, a split for built-in sets, e.g. ``cifar10:test``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from gankit.config import DataConfig
    from gankit.data.base import Dataset


def split_spec(spec: str) -> tuple[str, str]:
    """``folder:/x/y`` -> (``folder``, ``/x/y``); ``mnist`` -> (``mnist``, ``""``)."""
    name, sep, arg = spec.partition(":")
    return name.strip(), arg.strip() if sep else ""


def load_dataset(cfg: DataConfig) -> Dataset:
    from gankit.registry import DATASETS

    name, arg = split_spec(cfg.dataset)
    builder = DATASETS.get(name)
    return builder(arg, cfg)
