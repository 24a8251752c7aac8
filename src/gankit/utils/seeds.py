"""Seed lists as users write them: ``0-7,12,20-22``."""
from __future__ import annotations

from gankit.errors import GankitError


def parse_seeds(text: str | int | list[int]) -> list[int]:
    """Parse ``"0-7,12"`` into ``[0, 1, ..., 7, 12]`` (ranges inclusive)."""
    if isinstance(text, int):
        return [text]
    if isinstance(text, list):
        return [int(s) for s in text]
    seeds: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        try:
            if "-" in part[1:]:
                lo, hi = part.split("-", 1) if part[0] != "-" else (part, "")
                a, b = int(lo), int(hi)
                if b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise GankitError(f"bad seed list {text!r}: write seeds like 0-7,12") from None
    if not seeds:
        raise GankitError(f"empty seed list {text!r}: write seeds like 0-63")
    if any(s < 0 for s in seeds):
        raise GankitError(f"seeds must be >= 0 in {text!r}")
    return seeds
