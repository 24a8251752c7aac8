"""The public API in gankit/__init__: lazy, and the same images as the CLI."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import gankit
from gankit.cli import main

SRC = str(Path(__file__).resolve().parents[1] / "src")
TINY = {"model": {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8},
        "data": {"dataset": "synthetic:64", "resolution": 32},
        "train": {"steps": 4, "batch_size": 8, "log_every": 2, "sample_every": 4,
                  "checkpoint_every": 4, "progress": False, "threads": 1, "grid_size": 4}}


def _python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={"PYTHONPATH": SRC, "PATH": ""}).stdout.strip()


def test_import_gankit_loads_nothing_heavy():
    out = _python("import sys, gankit; gankit.load; gankit.sample; gankit.evaluate; "
                  "print(sorted(m for m in ('torch', 'numpy', 'yaml', 'PIL', 'safetensors') "
                  "if m in sys.modules))")
    assert out == "[]"


def test_train_and_export_are_callable_packages():
    # gankit.train is both the subpackage and the function, before and after submodule imports
    out = _python("import gankit; a = callable(gankit.train) and callable(gankit.export); "
                  "import gankit.train.trainer, gankit.export.onnx; "
                  "print(a, callable(gankit.train), callable(gankit.export), "
                  "gankit.train.trainer.__name__)")
    assert out == "True True True gankit.train.trainer"


def test_names_and_errors():
    assert {"train", "load", "sample", "evaluate", "export", "Generator"} <= set(dir(gankit))
    assert set(gankit.__all__) <= set(dir(gankit))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        gankit.nope
    assert gankit.Generator.from_pretrained.__doc__


def test_train_load_sample_export_match_the_cli(tmp_path):
    run = gankit.train(TINY, tmp_path / "run", overrides=["train.steps=2"])
    assert run == tmp_path / "run" and (run / "export" / "README.md").is_file()
    assert "steps: 2" in (run / "config.yaml").read_text()
    images = gankit.sample(run, "0-2,7", device="cpu")
    assert images.shape == (4, 1, 32, 32) and images.min() >= -1 and images.max() <= 1
    assert main(["sample", str(run / "export"), "--seeds", "0-2,7", "--npz",
                 str(tmp_path / "s.npz"), "--device", "cpu"]) == 0
    from gankit.data.base import to_uint8

    cli = np.load(tmp_path / "s.npz")["images"]
    assert np.array_equal(to_uint8(images).permute(0, 2, 3, 1).numpy(), cli)
    G = gankit.load(run / "export", "cpu")
    assert torch.equal(gankit.sample(G, [7]), images[3:])
    out = gankit.export(run, tmp_path / "again", card=False)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "generator.safetensors"]
    with pytest.raises(gankit.GankitError, match="no generation options"):
        gankit.sample(G, [0], trunc=0.7)


def test_export_onnx_through_the_api(tmp_path):
    pytest.importorskip("onnx")  # the export extra
    run = gankit.train(TINY, tmp_path / "run", overrides=["train.steps=1"])
    path = gankit.export(run, onnx=tmp_path / "g.onnx")
    assert path == tmp_path / "g.onnx" and path.stat().st_size > 1000
