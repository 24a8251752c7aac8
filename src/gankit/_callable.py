"""Packages that are also functions: ``gankit.train(...)`` and ``gankit.export(...)``.

``gankit.train`` and ``gankit.export`` are subpackages *and* public functions. A plain
function attribute would not survive: the first ``import gankit.train.trainer`` rebinds
``gankit.train`` to the package. So the two packages are made callable instead (a module may
change its ``__class__`` to a ModuleType subclass), forwarding to :mod:`gankit.api`.
"""
from __future__ import annotations

import sys
import types


class _CallableModule(types.ModuleType):
    _target = ""

    def __call__(self, *args, **kwargs):
        from gankit import api

        return getattr(api, self._target)(*args, **kwargs)


def make_callable(module_name: str, target: str) -> None:
    """Make the module ``module_name`` callable as ``gankit.api.<target>``."""
    cls = type(f"Callable_{target}", (_CallableModule,), {"_target": target})
    sys.modules[module_name].__class__ = cls
