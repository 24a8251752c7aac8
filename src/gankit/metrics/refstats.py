"""Reference-statistics cache: features of a real dataset computed once, then reused.

An entry holds the reference side of every metric: ``mu`` and ``sigma`` (float64, for FID),
``pool`` (float32 features, for KID and precision/recall) and ``logits``. It is keyed by
everything the numbers depend on: dataset and split, image count, feature net (and its weights
file's size and name), resize mode. Entries live in ``<cache>/refstats/<key>.npz``
(``gankit.metrics.weights.cache_dir``); delete the folder to recompute.
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import numpy as np

from gankit.metrics.weights import cache_dir

log = logging.getLogger(__name__)

VERSION = 1


def cache_key(source_key: str, num: int, net_name: str, resize: str, weights: Path | None) -> str:
    wid = ""
    if weights is not None and Path(weights).is_file():
        st = Path(weights).stat()
        wid = f"{Path(weights).name}:{st.st_size}:{int(st.st_mtime)}"
    desc = json.dumps({"v": VERSION, "src": source_key, "n": num, "net": net_name,
                       "resize": resize, "w": wid}, sort_keys=True)
    digest = hashlib.sha256(desc.encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{source_key}-{num}-{net_name}-{resize}")[:80]
    return f"{slug}-{digest}"


def path_for(key: str) -> Path:
    return cache_dir() / "refstats" / f"{key}.npz"


def load(key: str) -> dict[str, np.ndarray] | None:
    p = path_for(key)
    if not p.is_file():
        return None
    try:
        with np.load(p) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # a truncated file: recompute rather than fail
        log.warning("ignoring unreadable reference statistics %s (%s)", p, e)
        return None


def save(key: str, entry: dict[str, np.ndarray]) -> Path:
    from gankit.utils.io import atomic_write

    p = path_for(key)
    atomic_write(p, lambda f: np.savez(f, **entry))
    return p
