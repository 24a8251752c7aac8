"""gankit: train, evaluate and use generative adversarial networks with PyTorch.

The public API (see :mod:`gankit.api` and ``docs/API.md``)::

    import gankit
    run = gankit.train("mnist-dcgan", "runs/a", overrides=["train.steps=500"])
    G = gankit.load(run)                       # also gankit.Generator.from_pretrained(path)
    images = gankit.sample(G, seeds=range(16), trunc=None)
    result = gankit.evaluate(run, metrics="fid", feature_net="mnist")
    gankit.export(run)                         # RUN/export with its README.md model card

Importing gankit does nothing but define names: torch and everything else load on first use
(module ``__getattr__``).
"""
from typing import TYPE_CHECKING

from gankit._version import __version__

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time __getattr__ below serves these
    from gankit.api import evaluate, export, load, push_to_hub, sample, train
    from gankit.config import Config, load_config
    from gankit.errors import GankitError
    from gankit.sampling.loading import Generator

__all__ = ["__version__", "train", "load", "sample", "evaluate", "export", "push_to_hub",
           "Generator", "Config", "load_config", "GankitError"]

# name -> (module, attribute); None = the module itself (callable packages, gankit._callable)
_LAZY = {
    "train": ("gankit.train", None),
    "export": ("gankit.export", None),
    "load": ("gankit.api", "load"),
    "sample": ("gankit.api", "sample"),
    "evaluate": ("gankit.api", "evaluate"),
    "push_to_hub": ("gankit.api", "push_to_hub"),
    "Generator": ("gankit.sampling.loading", "Generator"),
    "Config": ("gankit.config", "Config"),
    "load_config": ("gankit.config", "load_config"),
    "GankitError": ("gankit.errors", "GankitError"),
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'gankit' has no attribute {name!r}")
    import importlib

    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    return mod if attr is None else getattr(mod, attr)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
