"""Differences between two nested dicts as dotted lines: ``model.ngf: 32 -> 16``."""
from __future__ import annotations

from typing import Any

_MISSING = object()


def dotted_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """One ``key.path: old -> new`` line per leaf that differs (``(unset)`` where a side lacks
    the key), in the order of ``old`` then keys only ``new`` has."""
    lines = []
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key, _MISSING), new.get(key, _MISSING)
        path = f"{prefix}{key}"
        if isinstance(a, dict) and isinstance(b, dict):
            lines += dotted_diff(a, b, path + ".")
        elif a != b:
            show = ["(unset)" if v is _MISSING else repr(v) if isinstance(v, str) else str(v)
                    for v in (a, b)]
            lines.append(f"{path}: {show[0]} -> {show[1]}")
    return lines
