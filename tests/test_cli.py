"""End-to-end runs of the `gankit` command line."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gankit.cli import main

TINY = """
model: {name: dcgan, ngf: 4, ndf: 4, z_dim: 8}
data: {dataset: "synthetic:64", resolution: 32}
train: {steps: %d, batch_size: 8, log_every: 2, sample_every: 4, checkpoint_every: %d,
        progress: false, threads: 1, grid_size: 4}
description: tiny test run
"""


def write_cfg(tmp_path, steps=6, every=3):
    p = tmp_path / "tiny.yaml"
    p.write_text(TINY % (steps, every))
    return p


def test_train_then_sample(tmp_path, capsys):
    cfg = write_cfg(tmp_path)
    run = tmp_path / "run"
    assert main(["train", str(cfg), "--out", str(run), "train.steps=4"]) == 0
    for f in ("config.yaml", "stats.jsonl", "reals.png", "fakes_000004.png", "log.txt",
              "checkpoints/latest.pt", "export/generator.safetensors", "export/config.json"):
        assert (run / f).is_file(), f
    assert "steps: 4" in (run / "config.yaml").read_text()
    npz = tmp_path / "s.npz"
    assert main(["sample", str(run), "--seeds", "0-4,9", "--out", str(tmp_path / "g.png"),
                 "--npz", str(npz)]) == 0
    images = np.load(npz)["images"]
    assert images.shape == (6, 32, 32, 1) and images.dtype == np.uint8
    assert (tmp_path / "g.png").is_file()
    # the same seed gives the same image, from the export too
    npz2 = tmp_path / "s2.npz"
    assert main(["sample", str(run / "export"), "--seeds", "9", "--npz", str(npz2),
                 "--out", str(tmp_path / "g2.png")]) == 0
    assert np.array_equal(np.load(npz2)["images"][0], images[5])


def test_user_errors_are_one_line(tmp_path, capsys):
    cfg = write_cfg(tmp_path)
    assert main(["train", str(cfg), "model.ngff=3", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "model.ngff: unknown key; did you mean ngf?" in err and "Traceback" not in err
    assert main(["sample", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["sample", str(tmp_path), "--seeds", "x-y"]) == 2


def test_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("dcgan", "gan", "bce", "mnist-gan", "synthetic"):
        assert word in out
    assert main(["list", "--keys", "dcgan"]) == 0
    assert "model.ngf" in capsys.readouterr().out


def _run_cli(args, **kw):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    return subprocess.Popen([sys.executable, "-m", "gankit", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    """The issue's check, in small: SIGKILL halfway, `--resume auto`, same final weights."""
    cfg = write_cfg(tmp_path, steps=40, every=5)
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert _run_cli(["train", str(cfg), "--out", str(full)]).wait(120) == 0
    proc = _run_cli(["train", str(cfg), "--out", str(cut)])
    deadline = time.time() + 120
    while not (cut / "checkpoints" / "ckpt-000020.pt").exists() and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert proc.returncode == -signal.SIGKILL
    assert _run_cli(["train", str(cfg), "--out", str(cut), "--resume", "auto"]).wait(120) == 0
    a = torch.load(full / "checkpoints" / "latest.pt", weights_only=True)
    b = torch.load(cut / "checkpoints" / "latest.pt", weights_only=True)
    assert a["step"] == b["step"] == 40
    for net in a["nets"]:
        for k in a["nets"][net]:
            assert torch.equal(a["nets"][net][k], b["nets"][net][k]), f"{net}.{k}"


def test_python_dash_m_and_version():
    out = subprocess.run([sys.executable, "-m", "gankit", "--version"], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(
                             Path(__file__).resolve().parents[1] / "src")})
    assert out.returncode == 0 and out.stdout.startswith("gankit ")
