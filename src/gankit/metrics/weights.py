"""Where metric weights live: the user cache, ``$GANKIT_DATA``, downloads with checksums.

The cache folder is ``$GANKIT_CACHE``, else ``$XDG_CACHE_HOME/gankit``, else
``~/.cache/gankit``. Weight files are looked up, in order, at an explicit path, under
``$GANKIT_DATA`` (``$GANKIT_DATA/<name>`` or ``$GANKIT_DATA/weights/<name>``), in
``<cache>/weights/<name>``, and (for the FID Inception) in torch hub's checkpoint folder, where
pytorch-fid stores the same file.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from gankit.errors import CheckpointError, GankitError
from gankit.utils.download import download_to

log = logging.getLogger(__name__)

FID_WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = ("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
                   + FID_WEIGHTS_NAME)
# torch hub convention: the hex digits in the file name are the start of the file's sha256
FID_WEIGHTS_SHA256 = "6726825d"


def cache_dir() -> Path:
    env = os.environ.get("GANKIT_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gankit"


def candidate_paths(name: str) -> list[Path]:
    paths = []
    data = os.environ.get("GANKIT_DATA")
    if data:
        paths += [Path(data) / name, Path(data) / "weights" / name]
    paths.append(cache_dir() / "weights" / name)
    torch_home = os.environ.get("TORCH_HOME")
    hub = Path(torch_home) if torch_home else Path.home() / ".cache" / "torch"
    paths.append(hub / "hub" / "checkpoints" / name)
    return paths


def download(url: str, dest: str | Path, sha256: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` atomically; the file's sha256 must start with ``sha256``.

    ``sha256`` may be the full hex digest or a prefix of it (torch hub file names carry the
    first 8 digits). A mismatching or interrupted download leaves nothing at ``dest``.
    """
    def verify(digest: str, tmp: Path) -> None:
        if not digest.startswith(sha256.lower()):
            raise CheckpointError(f"download of {url} is corrupt: sha256 {digest} does not "
                                  f"match the expected {sha256}; nothing was saved")

    return download_to(url, dest, verify, timeout=timeout)


def find_weights(name: str, path: str | Path | None = None, url: str | None = None,
                 sha256: str | None = None, download_ok: bool = True) -> Path:
    """Return the path of weight file ``name``: ``path``, a known location, or a download."""
    if path:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        raise GankitError(f"weights file {p} does not exist")
    for p in candidate_paths(name):
        if p.is_file():
            return p
    where = "\n  ".join(str(p) for p in candidate_paths(name))
    if url and download_ok:
        dest = cache_dir() / "weights" / name
        log.info("downloading %s to %s", url, dest)
        try:
            return download(url, dest, sha256 or "")
        except GankitError as e:
            raise GankitError(
                f"{e}\nThe weights file {name} was not found. Download it on a machine with "
                f"internet access from {url} and put it at one of:\n  {where}\n"
                f"or pass its path with --weights PATH.") from None
    raise GankitError(f"the weights file {name} was not found. Put it at one of:\n  {where}\n"
                      f"or pass its path with --weights PATH"
                      + (f" (download: {url})" if url else ""))
