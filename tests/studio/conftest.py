"""A runs folder with one tiny trained run, and a studio serving it."""
import pytest

from gankit.config import config_from_dict
from gankit.train.trainer import train


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cfg = config_from_dict({
        "model": {"name": "gan", "g_hidden": [32], "d_hidden": [32], "z_dim": 8},
        "data": {"dataset": "synthetic:64", "resolution": 16},
        "train": {"steps": 20, "batch_size": 8, "log_every": 5, "sample_every": 10,
                  "checkpoint_every": 0, "progress": False, "threads": 1, "grid_size": 4}})
    train(cfg, root / "00000-gan")
    return root


@pytest.fixture
def studio(runs_dir):
    from gankit.studio.server import start_server

    server, url = start_server(runs_dir)
    yield url
    server.shutdown()
    server.server_close()
