"""Where dataset files live, and how missing ones are downloaded and verified.

Search order for the files of a built-in dataset (first hit wins):

1. ``DataConfig.root`` (``--data-root DIR`` on the command line),
2. ``$GANKIT_DATA`` (one folder, or several separated by ``os.pathsep``),
3. the user cache, ``$XDG_CACHE_HOME/gankit/data`` or ``~/.cache/gankit/data``
   (downloads go here),
4. ``/usr/share/datasets`` (Debian's ``dataset-fashion-mnist`` package installs
   ``/usr/share/datasets/fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz``).

Inside each root a dataset is looked for under several folder names, so the layouts of
``shared/data`` (``mnist/``, ``fashion_mnist/``), Debian (``fashion-mnist/``) and torchvision
(``MNIST/raw/``, ``FashionMNIST/raw/``) all work.

Downloads come from the official hosts, or from ``$GANKIT_MIRROR`` (a base URL whose layout is
``<mirror>/<folder>/<file>``, e.g. an HTTP server over a copy of ``shared/data``). Every
downloaded file is checked against a sha256 fixed in :data:`CHECKSUMS` before it is moved, with
an atomic rename, into the cache; a failed or mismatching download leaves nothing behind.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from gankit.errors import DataError
from gankit.utils.download import download_to
from gankit.utils.io import sha256_stream

log = logging.getLogger("gankit.data")

#: System-wide dataset folders searched last (a module attribute so tests can replace it).
SYSTEM_DIRS: tuple[str, ...] = ("/usr/share/datasets",)

MIRROR_ENV = "GANKIT_MIRROR"
DATA_ENV = "GANKIT_DATA"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset: its name, the URLs it comes from and its sha256.

    Where the sha256 comes from is noted next to each entry in :data:`CHECKSUMS`.
    """

    name: str
    sha256: str
    size: int
    #: sha256 of the gunzipped contents, computed here from a content-identical copy; a
    #: download whose .gz bytes differ (another gzip header) is accepted if this matches
    content_sha256: str = ""


@dataclass(frozen=True)
class Remote:
    """The official download locations of a dataset's files (tried in order)."""

    folder: str                     # folder in the cache (and on a mirror)
    urls: tuple[str, ...]           # base URLs, each ending with "/"
    files: tuple[RemoteFile, ...]


# sha256 provenance:
# - Fashion-MNIST: all four .gz files in shared/data/fashion_mnist are byte-identical to the
#   official downloads (their md5 equals the md5 published in Zalando's README); the sha256
#   below were computed from those copies.
# - MNIST t10k-*: byte-identical copies in shared/data/mnist (md5 = torchvision's official md5);
#   sha256 computed from them.
# - MNIST train-*: the shared copies were recompressed (same contents, other gzip header), so
#   their .gz sha256 differs from the official file's. The values below are the sha256 of the
#   official .gz published by several independent loaders (TensorFlow Datasets' MNIST
#   checksums and others); the same tables list the t10k sha256 we computed ourselves, and
#   the sha256 of the unpacked train images they list (ba891046...) equals that of our
#   content-identical copy, which cross-checks them. As a second, locally computed check,
#   ``content_sha256`` holds the sha256 of the gunzipped train files (our copies' contents
#   match the official uncompressed md5): a re-gzipped but otherwise official file passes.
# - CIFAR-10: sha256 of cifar-10-python.tar.gz as published in Keras' cifar10 loader
#   (``file_hash``); no copy of the archive was available here to recompute it.
CHECKSUMS: dict[str, Remote] = {
    "mnist": Remote(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",   # PyTorch's mirror (LeCun's host
         "http://yann.lecun.com/exdb/mnist/"),               # often answers 403 now)
        (
            RemoteFile("train-images-idx3-ubyte.gz",
                       "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                       9912422,
                       "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
            RemoteFile("train-labels-idx1-ubyte.gz",
                       "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                       28881,
                       "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
            RemoteFile("t10k-images-idx3-ubyte.gz",
                       "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                       1648877),
            RemoteFile("t10k-labels-idx1-ubyte.gz",
                       "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                       4542),
        )),
    "fashion-mnist": Remote(
        "fashion_mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        (
            RemoteFile("train-images-idx3-ubyte.gz",
                       "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                       26421880),
            RemoteFile("train-labels-idx1-ubyte.gz",
                       "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                       29515),
            RemoteFile("t10k-images-idx3-ubyte.gz",
                       "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                       4422102),
            RemoteFile("t10k-labels-idx1-ubyte.gz",
                       "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
                       5148),
        )),
    "cifar10": Remote(
        "cifar10",
        ("https://www.cs.toronto.edu/~kriz/",),
        (
            RemoteFile("cifar-10-python.tar.gz",
                       "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                       170498071),
        )),
}


# --------------------------------------------------------------------------- roots

def cache_dir() -> Path:
    """The user cache for datasets: ``$XDG_CACHE_HOME/gankit/data`` or ``~/.cache/gankit/data``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gankit" / "data"


def data_roots(root: str = "") -> list[tuple[Path, str]]:
    """Folders to search, in order, each with where it came from (for messages)."""
    out: list[tuple[Path, str]] = []
    if root:
        out.append((Path(root).expanduser(), "--data-root / data.root"))
    for part in (os.environ.get(DATA_ENV) or "").split(os.pathsep):
        if part.strip():
            out.append((Path(part.strip()).expanduser(), f"${DATA_ENV}"))
    out.append((cache_dir(), "user cache"))
    for d in SYSTEM_DIRS:
        out.append((Path(d), "system datasets"))
    return out


def find_first(root: str, subdirs: list[str], required: list[str],
               ) -> tuple[Path | None, list[str]]:
    """The first ``<root>/<subdir>`` holding every file in ``required``.

    A file name ``x.gz`` also matches its unpacked form ``x``. Returns (folder or None, the
    list of folders looked in, for the error message).
    """
    looked: list[str] = []
    for base, why in data_roots(root):
        for sub in subdirs:
            d = base / sub if sub else base
            looked.append(f"{d}  ({why})")
            if all(resolve_file(d, name) is not None for name in required):
                return d, looked
    return None, looked


def resolve_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, or its unpacked form without ``.gz``, if it is a file."""
    for cand in (name, name[:-3] if name.endswith(".gz") else None):
        if cand and (folder / cand).is_file():
            return folder / cand
    return None


# --------------------------------------------------------------------------- download

def mirror_urls(remote: Remote, mirror: str | None = None) -> list[str]:
    """Base URLs to try for ``remote``: the mirror if one is set, else the official hosts."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")
    if mirror:
        return [mirror.rstrip("/") + f"/{remote.folder}/"]
    return list(remote.urls)


def _gunzip_sha256(path: Path) -> str:
    import gzip

    try:
        with gzip.open(path, "rb") as f:
            return sha256_stream(f)
    except (OSError, EOFError):
        return ""


def download_file(url: str, dest: Path, sha256: str, size: int = 0, *,
                  timeout: float = 60.0, progress: bool | None = None,
                  content_sha256: str = "") -> Path:
    """Download ``url`` to ``dest``, checking its sha256, atomically.

    The bytes go to a temp file next to ``dest``; only a verified file is renamed onto
    ``dest``. Any failure (network, checksum, interruption) deletes the temp file; network
    errors and checksum mismatches (naming both checksums) raise :class:`DataError`. A gzip
    file whose bytes differ but whose unpacked contents hash to ``content_sha256`` is accepted.
    ``progress=None`` shows a bar only on a terminal.
    """
    def verify(got: str, tmp: Path) -> None:
        if got == sha256:
            return
        if content_sha256 and _gunzip_sha256(tmp) == content_sha256:
            log.info("%s: gzip bytes differ from the official file but the contents match "
                     "(sha256 %s of the unpacked data)", url, content_sha256)
            return
        raise DataError(f"checksum mismatch for {url}: sha256 {got}, expected {sha256}; "
                        "the file was deleted. The server or a proxy sent a different file: "
                        "try again later, or another mirror ($GANKIT_MIRROR)")

    return download_to(url, dest, verify, timeout=timeout, progress=progress, size=size,
                       error=DataError)


def download(name: str, files: list[str] | None = None, dest_root: Path | None = None,
             mirror: str | None = None) -> Path:
    """Download (the named ``files`` of) built-in dataset ``name`` into the cache.

    Files already in the destination are kept: only verified files are ever renamed into
    place. Returns the dataset folder. Raises :class:`DataError` if
    any file cannot be fetched from any URL.
    """
    if name not in CHECKSUMS:
        raise DataError(f"dataset {name!r} cannot be downloaded automatically "
                        f"(downloadable: {', '.join(sorted(CHECKSUMS))})")
    remote = CHECKSUMS[name]
    folder = (dest_root or cache_dir()) / remote.folder
    folder.mkdir(parents=True, exist_ok=True)
    with _folder_lock(folder):  # DDP ranks starting together download once, not N times
        for rf in remote.files:
            if files is not None and rf.name not in files:
                continue
            dest = folder / rf.name
            if dest.is_file():  # only verified files are ever renamed into place
                continue
            errors = []
            for base in mirror_urls(remote, mirror):
                try:
                    log.info("downloading %s%s -> %s", base, rf.name, dest)
                    download_file(base + rf.name, dest, rf.sha256, rf.size,
                                  content_sha256=rf.content_sha256)
                    break
                except DataError as e:
                    errors.append(str(e))
            else:
                raise DataError("; ".join(errors))
    return folder


class _folder_lock:
    """An exclusive advisory lock on ``folder/.lock`` (no-op where fcntl is missing)."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"
        self.fd: int | None = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # Windows: concurrent downloads still end atomically
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
        return False


def missing_message(what: str, looked: list[str], how: str) -> str:
    """A DataError message listing every place looked in and how to get the files."""
    places = "\n  ".join(looked)
    return f"{what} not found. Looked in:\n  {places}\n{how}"
