"""The studio's domain-adaptation panel: POST /api/domain for a dann run."""
import dataclasses

import pytest
import torch
from test_server import decode, png_bytes, request

from gankit.config import config_from_dict
from gankit.data import load_dataset
from gankit.metrics.classifier import load_classifier
from gankit.train.trainer import train

DATA = {"dataset": "domains:synthetic:32,synthetic:24", "resolution": 16, "channels": 3}


@pytest.fixture(scope="session")
def dann_run(runs_dir):
    name = "00004-dann"
    if not (runs_dir / name).exists():
        cfg = config_from_dict({"model": {"name": "dann", "width": 0.25}, "data": DATA,
                                "train": {"steps": 4, "batch_size": 4, "progress": False,
                                          "threads": 1, "sample_every": 0,
                                          "checkpoint_every": 0, "log_every": 2}})
        train(cfg, runs_dir / name)
    return name


def test_domain_pick_a_test_pair(studio, runs_dir, dann_run):
    s, info = request(studio, "GET", f"/api/runs/{dann_run}")
    assert s == 200 and "classify" in info["capabilities"] and info["kind"] == "domains"
    s, b = request(studio, "POST", f"/api/domain?run={dann_run}&index=3")
    assert s == 200, b
    source, target = b["items"]
    assert (source["domain"], target["domain"]) == ("source", "target")
    # the same numbers as the library's classifiers on test image 3 of each domain
    model, cfg, _, _ = load_classifier(runs_dir / dann_run)
    ds = load_dataset(dataclasses.replace(cfg.data, split="test", flip=False))
    x = torch.cat([ds.A[3:4], ds.B[3:4]]).float() / 127.5 - 1
    probs = model.classify(x).softmax(1)
    p_target = torch.sigmoid(model.domain_logits(model.features(x)))
    for i, item in enumerate((source, target)):
        assert item["class"] == int(probs[i].argmax())
        assert item["probs"] == pytest.approx(probs[i].tolist(), abs=1e-4)
        assert item["p_target"] == pytest.approx(float(p_target[i]), abs=1e-4)
        assert item["label"] == int((ds.labels_A, ds.labels_B)[i][3])
        img = decode(item["image"])
        assert img.shape == (16, 16, 3)
        want = (ds.A, ds.B)[i][3].permute(1, 2, 0).numpy()
        assert (img == want).all()
    s, b = request(studio, "POST", f"/api/domain?run={dann_run}&index=999999")
    assert s == 400 and "test splits have" in b["error"]


def test_domain_upload(studio, dann_run):
    s, b = request(studio, "POST", f"/api/domain?run={dann_run}",
                   png_bytes((50, 40), "RGB", (10, 200, 30)), {"Content-Type": "image/png"})
    assert s == 200, b
    (item,) = b["items"]
    assert item["domain"] is None and item["label"] is None
    assert decode(item["image"]).shape == (16, 16, 3)
    assert 0 <= item["p_target"] <= 1 and sum(item["probs"]) == pytest.approx(1, abs=1e-3)
    assert item["confidence"] == max(item["probs"])
    s, b = request(studio, "POST", f"/api/domain?run={dann_run}", b"not an image")
    assert s == 400 and "not an image" in b["error"]


def test_domain_needs_a_dann_run(studio, runs_dir):
    s, b = request(studio, "POST", "/api/domain?run=00000-gan", png_bytes())
    assert s == 400 and "not a classifier" in b["error"]
    s, b = request(studio, "POST", "/api/domain?run=no-such-run", png_bytes())
    assert s == 404
