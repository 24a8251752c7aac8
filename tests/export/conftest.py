"""Tiny trained runs for the export tests."""
import pytest

from gankit.config import config_from_dict


def _train(out, model_cfg, resolution, **data):
    from gankit.train.trainer import train

    cfg = config_from_dict({
        "model": model_cfg,
        "data": {"dataset": "synthetic:64", "resolution": resolution, **data},
        "train": {"steps": 6, "batch_size": 8, "log_every": 3, "sample_every": 6,
                  "checkpoint_every": 3, "progress": False, "threads": 1, "grid_size": 4,
                  "ema_decay": 0.9}})
    return train(cfg, out)


@pytest.fixture(scope="session")
def export_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {
        "gan": _train(root / "gan", {"name": "gan", "g_hidden": [32], "d_hidden": [32],
                                     "z_dim": 8}, 16),
        "dcgan": _train(root / "dcgan", {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8}, 32),
    }
