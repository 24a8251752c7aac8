"""Fixtures for the data-layer tests: an isolated environment and the real data sets."""
from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest

import gankit.data.sources as sources

_REAL = os.environ.get("GANKIT_DATA", "")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No test sees the real user cache, $GANKIT_DATA, a mirror or /usr/share/datasets."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.delenv("GANKIT_MIRROR", raising=False)
    monkeypatch.setattr(sources, "SYSTEM_DIRS", (str(tmp_path / "system"),))
    return tmp_path


@pytest.fixture
def real_data() -> Path:
    """The real data sets ($GANKIT_DATA, e.g. ../shared/data); skips when unset."""
    if not _REAL or not Path(_REAL).is_dir():
        pytest.skip("real data sets not available: export GANKIT_DATA=/work/shared/data")
    return Path(_REAL)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local HTTP server on 127.0.0.1 over tmp_path/mirror; sets $GANKIT_MIRROR."""
    root = tmp_path / "mirror"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    monkeypatch.setenv("GANKIT_MIRROR", f"http://127.0.0.1:{server.server_port}")
    yield root
    server.shutdown()
    server.server_close()
