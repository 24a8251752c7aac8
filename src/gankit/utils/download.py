"""One download loop for data sets and network weights: stream, hash, verify, rename.

Callers say what a good file is (``verify``) and which error a user sees; this module only moves
bytes. Nothing reaches ``dest`` unless ``verify`` accepted it, and an interrupted or rejected
download leaves no temp file behind.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from gankit.errors import GankitError
from gankit.utils.io import temp_beside


def download_to(url: str, dest: str | Path, verify: Callable[[str, Path], None], *,
                timeout: float = 60.0, progress: bool | None = None, size: int = 0,
                error: type[GankitError] = GankitError) -> Path:
    """Download ``url`` to ``dest`` atomically and return ``dest``.

    The bytes go to a hidden temp file next to ``dest`` (with the permissions a plain ``open``
    gives) while their sha256 is computed; then ``verify(hexdigest, temp_path)`` is called and
    raises to reject the file. Only an accepted file is fsynced and renamed onto ``dest``. Any
    failure deletes the temp file; network failures (refused, timeouts, resets, bad URLs)
    raise ``error("could not download URL: ...")``. ``progress=None`` shows a bar only on a
    terminal; ``size`` is the expected length when the server sends none.
    """
    from tqdm import tqdm

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = temp_beside(dest, ".part")
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f:  # opened first: a refused connection closes it too
            try:
                req = urllib.request.Request(url, headers={"User-Agent": "gankit"})
                with urllib.request.urlopen(req, timeout=timeout) as resp:
                    total = int(resp.headers.get("Content-Length") or size or 0) or None
                    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                              desc=dest.name, leave=False,
                              disable=(None if progress is None else not progress)) as bar:
                        while block := resp.read(1 << 20):
                            f.write(block)
                            h.update(block)
                            bar.update(len(block))
                    f.flush()
                    os.fsync(f.fileno())
            except (urllib.error.URLError, OSError, ValueError) as e:
                raise error(f"could not download {url}: {e}") from None
        verify(h.hexdigest(), tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest
