"""`gankit grid` / `interpolate` / `direction` / `export --onnx` on a trained class-conditional
run (skips until the cgan model is registered on this branch)."""
import pytest
from PIL import Image

from gankit.cli import main
from gankit.registry import MODELS

CFG = """
model: {name: cgan, z_dim: 8, ngf: 8, ndf: 8, embed_dim: 4}
data: {dataset: "synthetic:64", resolution: 28, labels: true}
train: {steps: 4, batch_size: 8, log_every: 2, sample_every: 4, checkpoint_every: 4,
        progress: false, threads: 1, grid_size: 4}
"""


def test_conditional_run_through_the_cli(tmp_path, capsys):
    if "cgan" not in MODELS:
        pytest.skip("model 'cgan' is not registered on this branch yet")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(CFG)
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run)]) == 0
    grid = tmp_path / "grid.png"
    assert main(["grid", str(run), "--per-class", "8", "--out", str(grid)]) == 0
    with Image.open(grid) as im:  # one row per class (10), 8 per row, 28 px + 2 px padding
        assert im.size == (2 + 8 * 30, 2 + 10 * 30)
    assert main(["interpolate", str(run), "--seeds", "1,2", "--class", "4", "--out",
                 str(tmp_path / "i.png")]) == 0
    d = tmp_path / "d.npy"
    assert main(["direction", str(run), "--classifier", "brightness", "--samples", "0-49",
                 "--method", "mean", "--out", str(d)]) == 0
    assert main(["edit", str(run), "--direction", str(d), "--seeds", "0-1", "--out",
                 str(tmp_path / "e.png")]) == 0
    pytest.importorskip("onnxruntime")
    assert main(["export", str(run), "--onnx", str(tmp_path / "c.onnx")]) == 0
    assert "verified with onnxruntime" in capsys.readouterr().out
