"""Classifier accuracy of runs whose model can classify (sgan), in the API and in the CLI."""
import pytest
import torch

from gankit.data.base import ImageDataset
from gankit.data.semi import base_spec
from gankit.errors import GankitError
from gankit.metrics import classifier as clf
from gankit.metrics import evaluate as ev
from gankit.registry import DATASETS


def _squares(n, seed):
    """3 classes: a bright square in a different place per class, on noise (8 x 8)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    x = -torch.ones(n, 1, 8, 8) + 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    for c in range(3):
        x[labels == c, :, 2 * c:2 * c + 3, 2 * c:2 * c + 3] = 0.8
    return x.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8), labels


@pytest.fixture
def squares(monkeypatch):
    """A registered data set whose test split (90 images) differs from its train split (300)."""
    def build(arg, cfg):
        n, seed = (90, 1) if cfg.split == "test" else (300, 0)
        x, y = _squares(n, seed)
        return ImageDataset(x, y if cfg.labels else None, source=f"squares {cfg.split}",
                            num_classes=3)

    DATASETS.names()  # discover the built-ins first
    monkeypatch.setitem(DATASETS._entries, "squares", build)


class Fixed:
    """classify() returns one-hot logits of a fixed prediction per image."""

    def __init__(self, pred):
        self.pred = pred
        self.seen = 0

    def classify(self, x):
        out = torch.nn.functional.one_hot(self.pred[self.seen:self.seen + len(x)], 3).float()
        self.seen += len(x)
        return out


def test_accuracy_counts_errors_across_batches():
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    pred = torch.tensor([0, 1, 1, 0, 2, 2, 0])
    res = clf.accuracy(Fixed(pred), torch.zeros(7, 1, 8, 8), labels, batch_size=3)
    assert res == {"accuracy": pytest.approx(5 / 7), "errors": 2, "examples": 7}


def test_base_spec_of_semi_sets():
    assert base_spec("semi:100:mnist") == "mnist"
    assert base_spec("semi:20:synthetic:64") == "synthetic:64"
    assert base_spec("cifar10") == "cifar10"


def _train(tmp_path, model, dataset, name="run"):
    from gankit.config import config_from_dict
    from gankit.train.trainer import train

    raw = {"model": model, "data": {"dataset": dataset, "resolution": 8},
           "train": {"steps": 3, "batch_size": 16, "sample_every": 0, "checkpoint_every": 0,
                     "progress": False, "threads": 1, "report": False, "health": False}}
    return train(config_from_dict(raw), tmp_path / name)


def test_run_accuracy_uses_the_test_split_and_d(tmp_path, squares):
    run = _train(tmp_path, {"name": "sgan", "z_dim": 8, "width": 0.05}, "semi:9:squares")
    res = clf.run_classifier_accuracy(run)
    assert res["examples"] == 90 and res["dataset"] == "squares:test" and res["step"] == 3
    # the same number by hand from the checkpoint's D
    model, _, _, _ = clf.load_classifier(run)
    x, y = _squares(90, 1)
    pred = model.classify(x.float() / 127.5 - 1).argmax(1)
    assert res["errors"] == int((pred != y).sum())
    assert clf.is_classifier_run(run)
    with pytest.raises(GankitError, match="exports"):
        clf.run_classifier_accuracy(run / "export")


def test_non_classifier_runs_are_refused(tmp_path):
    run = _train(tmp_path, {"name": "cgan", "z_dim": 8, "ngf": 8, "ndf": 8, "embed_dim": 4},
                 "synthetic:32")
    assert not clf.is_classifier_run(run)
    with pytest.raises(GankitError, match="not a classifier"):
        ev.evaluate(str(run), None, "accuracy")


def test_cli_reports_accuracy_by_default(tmp_path, squares, capsys):
    from gankit.cli import main

    run = _train(tmp_path, {"name": "sgan", "z_dim": 8, "width": 0.05}, "semi:9:squares")
    expected = clf.run_classifier_accuracy(run)
    assert main(["evaluate", str(run), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert f"accuracy       {expected['accuracy']:.4f} ({expected['errors']} errors in 90)" in out
    assert "squares:test" in out
    import json

    saved = json.loads((tmp_path / "r.json").read_text())["metrics"]["classifier_accuracy"]
    assert saved["errors"] == expected["errors"]
    # asking for accuracy of a non-run source is a user error (exit 2), not a crash
    assert main(["evaluate", "synthetic:32", "--metrics", "accuracy"]) == 2
    assert "classifier accuracy needs a run" in capsys.readouterr().err
