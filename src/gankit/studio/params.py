"""The studio's small helpers: its HTTP error, run-folder probes, image data URLs and the
checked parsing of request values (used by :mod:`gankit.studio.app` and
:mod:`gankit.studio.runs`; the leading underscores say they are the studio's internals, not an
API)."""
from __future__ import annotations

import base64
import json
from pathlib import Path

from gankit.errors import GankitError


class HTTPError(GankitError):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _is_run(path: Path) -> bool:
    return any((path / f).exists() for f in ("config.yaml", "stats.jsonl", "export",
                                             "checkpoints"))


def _has_generator(run: Path) -> bool:
    return (run / "export" / "config.json").is_file() or any((run / "checkpoints").glob("*.pt"))


def _generator_stamp(run: Path) -> tuple:
    files = [run / "export" / "generator.safetensors", run / "checkpoints" / "latest.pt"]
    return tuple(p.stat().st_mtime_ns if p.exists() else 0 for p in files)


def _last_step(stats: Path) -> int:
    step = 0
    with open(stats, "rb") as f:
        for line in f:
            try:
                step = max(step, int(json.loads(line).get("step", 0)))
            except (ValueError, TypeError, AttributeError):
                continue
    return step


def _png_url(images, nrow: int | None = None) -> str:
    """A data URL of one image (no grid border) or of a grid of images."""
    import io

    from gankit.utils.tensors import to_uint8
    from gankit.sampling.grids import png_bytes
    from gankit.utils.images import array_to_pil

    if images.shape[0] == 1:
        buf = io.BytesIO()
        array_to_pil(to_uint8(images[0]).permute(1, 2, 0).numpy()).save(buf, format="PNG")
        data = buf.getvalue()
    else:
        data = png_bytes(images, nrow)
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


# --------------------------------------------------------------------------- request parsing

def _int(body: dict, key: str, default: int | None = None, lo: int = 0,
         hi: int = 2**31 - 1) -> int:
    v = body.get(key, default)
    if v is None:
        raise HTTPError(400, f"missing {key!r}")
    try:
        if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
            raise ValueError
        v = int(v)
    except (TypeError, ValueError):
        raise HTTPError(400, f"{key!r} must be an integer, got {body.get(key)!r}") from None
    if not lo <= v <= hi:
        raise HTTPError(400, f"{key!r} must be in {lo}..{hi}, got {v}")
    return v


def _float(body: dict, key: str, default: float | None = None, lo: float = -1e6,
           hi: float = 1e6) -> float:
    v = body.get(key, default)
    try:
        if isinstance(v, bool):
            raise ValueError
        v = float(v)
    except (TypeError, ValueError):
        raise HTTPError(400, f"{key!r} must be a number, got {body.get(key)!r}") from None
    if not lo <= v <= hi:  # also refuses NaN
        raise HTTPError(400, f"{key!r} must be in {lo}..{hi}, got {v}")
    return v


def _opt_int(body: dict, key: str, hi: int = 2**31 - 1) -> int | None:
    return None if body.get(key) in (None, "") else _int(body, key, hi=hi)


def _opt_float(body: dict, key: str, lo: float, hi: float) -> float | None:
    return None if body.get(key) in (None, "") else _float(body, key, lo=lo, hi=hi)
