"""gankit adapt end to end on a tiny config, and its measurements (domain probe, PCA)."""
import json

import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.config import load_config
from gankit.errors import ConfigError
from gankit.metrics.adaptation import domain_probe, pca_2d, run_configs
from gankit.metrics.classifier import run_classifier_accuracy

TINY = ["data.dataset=domains:synthetic:40,synthetic:30", "data.resolution=16",
        "model.width=0.25", "train.steps=3", "train.batch_size=4", "train.threads=1",
        "train.progress=false", "train.checkpoint_every=0", "train.log_every=1"]


def test_adapt_command_end_to_end(tmp_path, capsys):
    out = tmp_path / "adapt"
    assert main(["adapt", "mnist-to-mnistm-dann", *TINY, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("source-only", "dann", "target-only", "published", "52.25%"):
        assert name in printed
    result = json.loads((out / "adapt.json").read_text())
    assert set(result["runs"]) == {"source-only", "dann", "target-only"}
    for name, r in result["runs"].items():
        assert r["how"] == "trained" and r["step"] == 3
        for key in ("target_accuracy", "source_accuracy", "domain_accuracy", "probe_accuracy"):
            assert 0.0 <= r[key] <= 1.0, (name, key)
    # the three runs differ only where they should
    assert "lambda_max: 0.0" in (out / "source-only" / "config.yaml").read_text()
    assert "lambda_max: 1.0" in (out / "dann" / "config.yaml").read_text()
    tgt_cfg = (out / "target-only" / "config.yaml").read_text()
    assert "domains:synthetic:30,synthetic:30" in tgt_cfg
    with Image.open(out / "features_pca.png") as im:
        assert im.width == 2 * 420  # before | after
    assert (out / "target_samples.png").exists() and (out / "adapt.html").exists()
    page = (out / "adapt.html").read_text()
    assert page.count("data:image/png;base64") == 2 and "target-only" in page
    # the dann run carries the numbers and the figure
    line = json.loads((out / "dann" / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["adapt/target_accuracy"] == result["runs"]["dann"]["target_accuracy"]
    assert (out / "dann" / "figure_features_pca.png").exists()
    report = (out / "dann" / "report.html").read_text()
    assert 'id="figures"' in report and "features pca" in report
    # gankit evaluate RUN scores a dann run on the target test split too
    acc = run_classifier_accuracy(out / "dann")
    assert acc["accuracy"] == pytest.approx(result["runs"]["dann"]["target_accuracy"])
    assert "target domain" in acc["dataset"]
    # finished runs are reused, not trained again, and score the same
    assert main(["adapt", "mnist-to-mnistm-dann", *TINY, "--out", str(out),
                 "--runs", "dann"]) == 0
    again = json.loads((out / "adapt.json").read_text())
    assert again["runs"]["dann"]["how"] == "reused"
    assert again["runs"]["dann"]["target_accuracy"] == result["runs"]["dann"]["target_accuracy"]
    # ... but a finished run of other settings is never passed off as the one asked for
    assert main(["adapt", "mnist-to-mnistm-dann", *TINY, "train.steps=4", "--out", str(out),
                 "--runs", "dann"]) == 2
    assert "other settings" in capsys.readouterr().err


def test_adapt_refuses_other_models_and_unknown_runs(tmp_path, capsys):
    with pytest.raises(ConfigError, match="dann config"):
        run_configs(load_config("mnist-dcgan"))
    with pytest.raises(ConfigError, match="domains:SOURCE,TARGET"):
        run_configs(load_config("mnist-to-mnistm-dann", ["data.dataset=mnist"]))
    assert main(["adapt", "mnist-to-mnistm-dann", *TINY, "--out", str(tmp_path),
                 "--runs", "dan"]) == 2
    assert "unknown run(s) dan" in capsys.readouterr().err


def test_domain_probe_tells_separable_from_identical_features():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(1000, 20, generator=g)
    b = torch.randn(1000, 20, generator=g)
    assert domain_probe(a, b + torch.tensor([3.0] + [0.0] * 19)) > 0.9
    assert 0.4 < domain_probe(a, b) < 0.6


def test_pca_finds_the_direction_of_largest_variance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 5, generator=g) * torch.tensor([0.1, 5.0, 0.1, 1.0, 0.1])
    xy = pca_2d(x)
    assert xy.shape == (500, 2)
    first = xy[:, 0]
    assert abs(torch.corrcoef(torch.stack([first, x[:, 1]]))[0, 1]) > 0.99
    assert first.var() > xy[:, 1].var()
