import http.server
import os
import threading
from pathlib import Path

import pytest
import torch

# one thread: tests are many small ops, and CI's two cores are shared
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _one_thread():
    """Keep every test on one thread even after a trainer chose another count."""
    torch.set_num_threads(1)
    yield

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def data_root() -> Path:
    """GANKIT_DATA (the real data sets); tests that need it skip when it is absent."""
    root = os.environ.get("GANKIT_DATA") or (str(SHARED_DATA) if SHARED_DATA.is_dir() else "")
    if not root or not Path(root).is_dir():
        pytest.skip("real data sets not available: set GANKIT_DATA to ../shared/data")
    return Path(root)


@pytest.fixture
def http_dir(tmp_path):
    """(folder, base URL) of a quiet file server on 127.0.0.1 serving ``tmp_path/www``."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
