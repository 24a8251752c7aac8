"""Periodic evaluation during training: metrics.jsonl and checkpoints/best.pt."""
import json

import torch

from gankit.config import config_from_dict
from gankit.metrics.mnist_net import MNISTClassifier, save_classifier
from gankit.train.trainer import train


def test_eval_during_training_writes_metrics_and_best(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    weights = save_classifier(MNISTClassifier().eval(), tmp_path / "m.safetensors", {})
    cfg = config_from_dict({
        "model": {"name": "gan", "g_hidden": [32], "d_hidden": [32], "z_dim": 8},
        "data": {"dataset": "synthetic:64", "resolution": 28},
        "train": {"steps": 6, "batch_size": 8, "log_every": 2, "sample_every": 0,
                  "checkpoint_every": 2, "progress": False, "threads": 1},
        "eval": {"every": 4, "metrics": "fid,coverage", "num": 32, "feature_net": "mnist",
                 "weights": str(weights)},
    })
    run = train(cfg, tmp_path / "run")
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [4, 6]  # every 4 steps, and the final checkpoint
    for r in lines:
        assert r["classifier_fid"] > 0 and r["headline"] == r["classifier_fid"]
        assert r["protocol"]["num_source"] == 32 and r["protocol"]["num_reference"] == 64
        assert "coverage_classes_present" in r
    best = min(lines, key=lambda r: r["headline"])
    best_pt = run / "checkpoints" / "best.pt"
    assert best_pt.read_bytes() == (run / "checkpoints" / best["checkpoint"]).read_bytes()
    # the reference features were computed once and cached
    assert len(list((tmp_path / "cache" / "refstats").glob("*.npz"))) == 1
