"""The quality suite's parts (benchmarks/quality): the plain reference recipe, the scorer and
its table, on real MNIST for a second of training (the suite itself is a benchmark, not a test)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from states import load_benchmark

HERE = Path(__file__).resolve().parents[2] / "benchmarks" / "quality"


def _load(name: str):
    return load_benchmark(f"quality/{name}.py")


def test_reference_recipe_trains_for_its_cpu_budget_and_samples_fixed_seeds(tmp_path,
                                                                           data_root,
                                                                           monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(data_root))
    ref = _load("reference")
    out = tmp_path / "ref.pt"
    info = ref.train("mnist", 1.5, out, snapshots=(0.5,))
    assert info["steps"] > 0 and 1.5 <= info["cpu_seconds"] < 10 and info["threads"] == 1
    assert (tmp_path / "ref.cpu0000.pt").is_file()  # the 0.5 s snapshot
    a, b = ref.sample(out, 6), ref.sample(out, 3)
    assert a.dtype == torch.uint8 and a.shape == (6, 1, 28, 28)
    assert torch.equal(a[:3], b)  # image i comes from seed i, whatever the count
    # the reference is self-contained: no gankit import
    assert "gankit" not in (HERE / "reference.py").read_text().split('"""')[2]


def test_space_scores_real_digits_near_the_floor_and_noise_far_from_it(data_root, monkeypatch):
    pytest.importorskip("scipy")
    from gankit.metrics.mnist_net import default_weights_path

    if not default_weights_path("mnist").is_file():
        pytest.skip("the mnist feature net is not trained here "
                    "(gankit evaluate train-feature-net mnist)")
    monkeypatch.setenv("GANKIT_DATA", str(data_root))
    run = _load("run")
    space = run.Space("mnist", num_ref=2000)
    real = space.score(space.real_test[:1000])
    noise = space.score(torch.randint(0, 256, (1000, 1, 28, 28), dtype=torch.uint8))
    assert real["fid"] < 5 < noise["fid"]
    assert real["mean_confidence"] > 0.95 and real["classes_present"] == 10
    assert real["kl_to_uniform"] < noise["kl_to_uniform"] or noise["classes_present"] < 10


def test_table_reads_saved_rows(tmp_path, monkeypatch):
    run = _load("run")
    monkeypatch.setattr(run, "RESULTS", tmp_path)
    row = {"preset": "mnist-dcgan", "steps": 10, "cpu_seconds": 5.0,
           "gankit": {"fid": 2.0, "kid_x1e3": 1.0, "precision": 0.7, "recall": 0.8,
                      "kl_to_uniform": 0.01, "mean_confidence": 0.95},
           "reference": {"fid": 20.0, "steps": 7, "cpu_seconds": 5.0},
           "real": {"fid": 0.6, "what": "test split"}, "fid_ratio_vs_reference": 0.1,
           "time_to_reference_fid": {"step": 2, "cpu_seconds": 1.0, "fid": 19.0, "ratio": 0.2}}
    (tmp_path / "mnist-dcgan.json").write_text(json.dumps(row))
    t = run.table()
    assert "| mnist-dcgan | gankit | 5 | 10 | 2.000 |" in t and "1 s (0.20x)" in t
    assert "| reference |" in t and "test split" in t
