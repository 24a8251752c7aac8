"""A runs folder with tiny trained runs, and a studio serving it."""
import pytest

from gankit.config import config_from_dict
from gankit.train.trainer import train

TRAIN = {"batch_size": 8, "log_every": 5, "sample_every": 10, "checkpoint_every": 0,
         "progress": False, "threads": 1, "grid_size": 4}


def translation_model():
    """(name, class) of a registered image-to-image model, or None when there is none."""
    from gankit.registry import MODELS

    for name in sorted(MODELS.names()):
        cls = MODELS.get(name)
        if "translate" in cls.capabilities and getattr(cls, "contract_data", None):
            return name, cls
    return None


@pytest.fixture(scope="session")
def runs_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    cfg = config_from_dict({
        "model": {"name": "gan", "g_hidden": [32], "d_hidden": [32], "z_dim": 8},
        "data": {"dataset": "synthetic:64", "resolution": 16},
        "train": {"steps": 20, **TRAIN}})
    train(cfg, root / "00000-gan")
    return root


@pytest.fixture(scope="session")
def translation_run(runs_dir):
    """Name of a tiny trained translation run in ``runs_dir`` (skips if no such model)."""
    found = translation_model()
    if found is None:
        pytest.skip("no model with the translate capability is registered in this checkout")
    name, cls = found
    run = f"00001-{name}"
    if not (runs_dir / run).exists():
        cfg = config_from_dict({"model": {"name": name, **cls.contract_overrides},
                                "data": dict(cls.contract_data),
                                "train": {"steps": 4, **TRAIN, "batch_size": 2,
                                          "sample_every": 2, "grid_size": 2}})
        train(cfg, runs_dir / run)
    return run


@pytest.fixture
def studio(runs_dir):
    from gankit.studio.server import start_server

    server, url = start_server(runs_dir)
    yield url
    server.shutdown()
    server.server_close()
