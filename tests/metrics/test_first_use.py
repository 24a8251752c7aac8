"""Dataset feature nets made on first use; `evaluate RUN` defaults --ref to the run's data."""
import logging

import pytest
import torch

import gankit.data
from gankit.cli import main
from gankit.data.base import ImageDataset


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """A fresh cache folder and a tiny labelled stand-in for MNIST; records what was loaded."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    asked = []

    def fake_load(cfg):
        asked.append((cfg.dataset, cfg.split))
        y = torch.arange(256) % 10
        x = (y.view(-1, 1, 1, 1) * 25).expand(-1, 1, 28, 28).to(torch.uint8).contiguous()
        return ImageDataset(x, y)

    monkeypatch.setattr(gankit.data, "load_dataset", fake_load)
    return asked


def test_missing_feature_net_is_trained_and_cached_once(tiny_mnist, tmp_path, caplog):
    from gankit.metrics.mnist_net import MNISTFeatures, default_weights_path
    from gankit.registry import FEATURE_NETS

    path = default_weights_path("mnist")
    assert str(path).startswith(str(tmp_path / "cache")) and not path.exists()
    with caplog.at_level(logging.INFO, logger="gankit.metrics.mnist_net"):
        net = FEATURE_NETS.get("mnist")(progress=False)
    assert isinstance(net, MNISTFeatures) and path.is_file()
    assert tiny_mnist == [("mnist", "train"), ("mnist", "test")]
    text = caplog.text
    assert "feature net is not cached yet" in text and "training it now" in text
    assert "cached at" in text and str(path) in text
    feats = net(torch.zeros(3, 1, 28, 28, dtype=torch.uint8))
    assert feats["pool"].shape == (3, 128)
    FEATURE_NETS.get("mnist")(progress=False)  # second use: read from the cache
    assert len(tiny_mnist) == 2


def test_explicit_missing_weights_still_an_error(tiny_mnist, tmp_path):
    from gankit.errors import GankitError
    from gankit.registry import FEATURE_NETS

    with pytest.raises(GankitError, match="train-feature-net"):
        FEATURE_NETS.get("fashion-mnist")(weights=str(tmp_path / "nope.safetensors"))
    assert tiny_mnist == []


def test_evaluate_run_defaults_ref_to_its_training_data(tmp_path, monkeypatch, capsys):
    from gankit.config import config_from_dict
    from gankit.metrics.evaluate import default_ref, run_config
    from gankit.train.trainer import train

    run = train(config_from_dict({
        "model": {"name": "gan", "g_hidden": [16], "d_hidden": [16], "z_dim": 4},
        "data": {"dataset": "synthetic:40", "resolution": 28},
        "train": {"steps": 2, "batch_size": 8, "log_every": 1, "sample_every": 2,
                  "checkpoint_every": 2, "progress": False, "threads": 1, "grid_size": 4}}),
        tmp_path / "run")
    assert run_config(run).data.dataset == "synthetic:40"
    assert run_config(run / "export").data.dataset == "synthetic:40"
    assert run_config(run / "checkpoints" / "latest.pt").model.name == "gan"
    assert run_config(tmp_path) is None
    ref = default_ref(run / "export")
    assert ref.describe() == "synthetic:40:train@28px1ch" and len(ref) == 40
    # through the CLI; the feature net comes from the (stand-in) first-use training
    calls = []
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    real_load = gankit.data.load_dataset

    def load(cfg):
        calls.append(cfg.dataset)
        if cfg.dataset == "mnist":
            y = torch.arange(128) % 10
            return ImageDataset((y.view(-1, 1, 1, 1) * 25).expand(-1, 1, 28, 28)
                                .to(torch.uint8).contiguous(), y)
        return real_load(cfg)

    monkeypatch.setattr(gankit.data, "load_dataset", load)
    assert main(["evaluate", str(run), "--feature-net", "mnist", "--num", "20",
                 "--no-progress", "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "--ref not given: comparing with the run's own training data, " \
           "synthetic:40:train@28px1ch" in out
    assert "classifier_fid" in out and "vs 40 images of synthetic:40:train@28px1ch" in out
    assert calls.count("synthetic:40") == 1 and calls.count("mnist") == 2
    import gankit as api  # the Python API takes the same default

    res = api.evaluate(run, metrics=["fid"], feature_net="mnist", num=20, progress=False,
                       use_cache=False)
    assert res["protocol"]["reference"] == "synthetic:40:train@28px1ch"
    assert res["metrics"]["classifier_fid"] > 0
