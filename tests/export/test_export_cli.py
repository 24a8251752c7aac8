"""`gankit export RUN_DIR` without --onnx re-writes the safetensors export (no onnx needed)."""
import json
import shutil

import torch

from gankit.cli import main
from gankit.sampling import load_generator


def test_cli_export_rewrites_safetensors(export_runs, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(export_runs["dcgan"], run)
    before = load_generator(run / "export", "cpu").generate([0, 1, 2])
    shutil.rmtree(run / "export")
    assert main(["export", str(run)]) == 0
    assert (run / "export" / "generator.safetensors").is_file()
    meta = json.loads((run / "export" / "config.json").read_text())
    assert meta["step"] == 6 and meta["ema"] is True
    after = load_generator(run / "export", "cpu").generate([0, 1, 2])
    assert torch.equal(before, after)  # the same (EMA) weights as the trainer's export
    capsys.readouterr()
    assert main(["export", str(run / "export")]) == 2
    assert "not a run directory" in capsys.readouterr().err
