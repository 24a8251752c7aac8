"""A runs folder with tiny trained runs, and a studio serving it."""
import pytest

from gankit.config import config_from_dict
from gankit.train.trainer import train

pytest.importorskip("starlette", reason="the studio needs starlette: pip install 'gankit[studio]'")
pytest.importorskip("uvicorn", reason="the studio needs uvicorn: pip install 'gankit[studio]'")

TRAIN = {"batch_size": 8, "log_every": 5, "sample_every": 10, "checkpoint_every": 0,
         "progress": False, "threads": 1, "grid_size": 4}


def model_with(capability):
    """(name, class) of a registered model with ``capability``, or None when there is none."""
    from gankit.registry import MODELS

    for name in sorted(MODELS.names()):
        cls = MODELS.get(name)
        if capability in cls.capabilities:
            return name, cls
    return None


def tiny_run(runs_dir, capability, number):
    """Name of a tiny trained run of a model with ``capability`` (skips if there is none)."""
    found = model_with(capability)
    if found is None:
        pytest.skip(f"no model with the {capability} capability is registered in this checkout")
    name, cls = found
    run = f"{number:05d}-{name}"
    if not (runs_dir / run).exists():
        data = getattr(cls, "contract_data", None) or {"dataset": "synthetic:64",
                                                        "resolution": 32, "channels": 1}
        cfg = config_from_dict({"model": {"name": name, **cls.contract_overrides},
                                "data": dict(data),
                                "train": {"steps": 4, **TRAIN, "batch_size": 2,
                                          "sample_every": 2, "grid_size": 2}})
        train(cfg, runs_dir / run)
    return run


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
    return tiny_run(runs_dir, "translate", 1)


@pytest.fixture(scope="session")
def mix_run(runs_dir):
    return tiny_run(runs_dir, "mix", 2)


@pytest.fixture
def studio(runs_dir):
    from gankit.studio.server import start_server

    server, url = start_server(runs_dir)
    yield url
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def attack_run(runs_dir):
    return tiny_run(runs_dir, "attack", 3)
