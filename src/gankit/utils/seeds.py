"""Seed lists as users write them: ``0-7,12,20-22``."""
from __future__ import annotations

import re

from gankit.errors import GankitError

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a 64-bit value
_PART = re.compile(r"([0-9]{1,19})(?:-([0-9]{1,19}))?")  # ASCII digits only: no _, +, or exponents


def parse_seeds(text: str | int | list[int], limit: int | None = None) -> list[int]:
    """Parse ``"0-7,12"`` into ``[0, 1, ..., 7, 12]`` (ranges inclusive).

    ``limit``: the most seeds allowed, checked on the ranges' sizes before any list is built
    (``0-1000000000`` is refused at once, not after building a billion integers).
    """
    if isinstance(text, int):
        text = str(text)
    if isinstance(text, list):
        text = ",".join(str(s) for s in text)
    spans: list[tuple[int, int]] = []
    for part in str(text).replace(" ", "").split(","):
        if not part:
            continue
        if part.startswith("-"):
            raise GankitError(f"seeds must be >= 0 in {text!r}")
        m = _PART.fullmatch(part)
        if m is None:
            raise GankitError(f"bad seed list {text!r}: write seeds like 0-7,12")
        a = int(m[1])
        b = int(m[2]) if m[2] is not None else a
        if b < a:
            raise GankitError(f"bad seed list {text!r}: a range runs low-high, like 0-7")
        if b > MAX_SEED:
            raise GankitError(f"seed {b} in {text!r} is too large (at most {MAX_SEED})")
        spans.append((a, b))
    if not spans:
        raise GankitError(f"empty seed list {text!r}: write seeds like 0-63")
    total = sum(b - a + 1 for a, b in spans)
    if limit is not None and total > limit:
        raise GankitError(f"at most {limit:,} seeds at a time ({total:,} asked for)")
    return [s for a, b in spans for s in range(a, b + 1)]
