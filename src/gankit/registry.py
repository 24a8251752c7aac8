"""Registries: models, losses, datasets and feature extractors looked up by name.

A module registers its entries with a decorator::

    @MODELS.register("dcgan")
    class DCGAN(GANModel): ...

Registration happens when the defining module is imported. ``Registry.get`` and
``Registry.names`` first import every module of the registry's packages (``gankit.models``
for models, ...), so adding a variant means adding one file: nothing else lists it.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

from gankit.errors import GankitError, did_you_mean


class Registry:
    def __init__(self, kind: str, packages: tuple[str, ...]):
        self.kind = kind
        self._packages = packages
        self._entries: dict[str, Any] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[Any], Any]:
        def deco(obj: Any) -> Any:
            if name in self._entries and self._entries[name] is not obj:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return deco

    def add(self, name: str, obj: Any) -> None:
        self.register(name)(obj)

    def _discover(self) -> None:
        if self._discovered:
            return
        self._discovered = True
        for pkg_name in self._packages:
            pkg = importlib.import_module(pkg_name)
            for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
                if not info.name.startswith("_"):
                    importlib.import_module(f"{pkg_name}.{info.name}")

    def get(self, name: str) -> Any:
        self._discover()
        try:
            return self._entries[name]
        except KeyError:
            raise GankitError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self._entries)} "
                f"(known: {', '.join(sorted(self._entries))}; `gankit list` shows all)"
            ) from None

    def names(self) -> list[str]:
        self._discover()
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        self._discover()
        return name in self._entries


MODELS = Registry("model", ("gankit.models",))
LOSSES = Registry("loss", ("gankit.losses",))
DATASETS = Registry("dataset", ("gankit.data",))
FEATURE_NETS = Registry("feature net", ("gankit.metrics",))
AUGMENTS = Registry("augmentation", ("gankit.augment",))


def declared_d_output(model_cfg: Any) -> str | None:
    """The registered model's declaration of its logged D outputs for ``model_cfg`` (None for
    an unknown model or one that logs none; see ``GANModel.d_output``). ``model_cfg``: the
    model section, a config dataclass or its dict (as in a run's config.yaml)."""
    name = (model_cfg.get("name") if isinstance(model_cfg, dict)
            else getattr(model_cfg, "name", None))
    try:
        cls = MODELS.get(name) if name else None
    except GankitError:
        return None
    return cls.d_output_of(model_cfg) if cls is not None else None
