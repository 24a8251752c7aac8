"""The shared download loop (gankit.utils.download) against a server on 127.0.0.1."""
from __future__ import annotations

import hashlib
import os
import socket

import pytest

from gankit.errors import DataError, GankitError
from gankit.utils.download import download_to


def _open_part_files() -> list[str]:
    """Paths of this process's open temp download files (Linux; empty elsewhere)."""
    fds = "/proc/self/fd"
    names = []
    for fd in os.listdir(fds) if os.path.isdir(fds) else []:
        try:
            names.append(os.readlink(os.path.join(fds, fd)))
        except OSError:
            pass
    return [n for n in names if n.endswith(".part") or ".part (deleted)" in n]


def test_accepted_file_lands_with_its_digest(http_dir, tmp_path):
    root, base = http_dir
    payload = os.urandom(3 << 20)  # several 1 MiB blocks
    (root / "w.bin").write_bytes(payload)
    seen = []
    dest = download_to(f"{base}/w.bin", tmp_path / "a" / "w.bin",
                       lambda d, tmp: seen.append((d, tmp.read_bytes() == payload)),
                       progress=False)
    assert dest.read_bytes() == payload
    assert seen == [(hashlib.sha256(payload).hexdigest(), True)]  # verify saw the whole file


def test_rejected_file_leaves_nothing(http_dir, tmp_path):
    root, base = http_dir
    (root / "w.bin").write_bytes(b"abc")

    def reject(digest, tmp):
        raise DataError("wrong file")

    with pytest.raises(DataError, match="wrong file"):
        download_to(f"{base}/w.bin", tmp_path / "b" / "w.bin", reject, progress=False)
    assert list((tmp_path / "b").iterdir()) == []


def test_network_failures_are_the_callers_error_and_leak_nothing(http_dir, tmp_path):
    _, base = http_dir
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for url, err in [(f"{base}/missing.bin", DataError), (f"http://127.0.0.1:{port}/x", DataError),
                     ("nota-scheme://x", GankitError)]:
        with pytest.raises(err, match="could not download"):
            download_to(url, tmp_path / "c" / "x", lambda d, t: None, timeout=5,
                        progress=False, error=err)
    assert list((tmp_path / "c").iterdir()) == []
    assert _open_part_files() == []  # the temp file's descriptor is closed on every path
