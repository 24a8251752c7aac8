import os
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
