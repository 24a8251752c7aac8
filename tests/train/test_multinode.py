"""Multi-node stays on torchrun: 2 nodes x 1 process, c10d rendezvous on localhost (gloo).

Two ``torchrun --nnodes 2`` agents, started separately as on two machines, meet at one
rendezvous endpoint and train from a zip archive that each rank streams (``data.stream=true``,
one DataLoader worker per rank, each decoding only its slice of every global batch). The result
must match one process with the global batch, reading the same archive from memory.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from gankit.config import config_from_dict
from gankit.data.pack import pack_images
from gankit.train.trainer import train
from states import latest

SRC = str(Path(__file__).resolve().parents[2] / "src")
TIMEOUT = 300


def raw_config(spec: str, batch_size: int, **data) -> dict:
    # the `gan` MLP without dropout and batch norm: no per-rank randomness (docs/distributed.md)
    return {
        "model": {"name": "gan", "g_hidden": [32], "d_hidden": [32], "z_dim": 8,
                  "d_dropout": 0.0},
        "data": {"dataset": spec, "resolution": 8, "channels": 1, "flip": True, **data},
        "train": {"steps": 6, "batch_size": batch_size, "d_steps": 2, "log_every": 2,
                  "sample_every": 0, "checkpoint_every": 3, "keep_checkpoints": 0,
                  "progress": False, "threads": 1, "grid_size": 4, "amp": "off",
                  "device": "cpu", "health": False, "report": False},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_zip(root: Path) -> Path:
    import numpy as np
    from PIL import Image

    folder = root / "imgs"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (10, 12), dtype=np.uint8)).save(
            folder / f"{i:03d}.png")
    return pack_images(folder, root / "set.zip", resolution=8).out


@pytest.mark.slow  # two torchrun agents and their rendezvous: ~20 s on a loaded 2-core machine
def test_two_nodes_one_process_each_match_one_process(tmp_path):
    packed = make_zip(tmp_path)
    train(config_from_dict(raw_config(f"zip:{packed}", 8, stream=False)), tmp_path / "one")
    cfg = tmp_path / "two.yaml"
    cfg.write_text(yaml.safe_dump(raw_config(f"zip:{packed}", 4, stream=True, workers=1)))
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH")) if p))
    if Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node",
         "1", "--node-rank", str(i), "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint,
         "--rdzv-id", "gankit-test", "-m", "gankit", "train", str(cfg),
         "--out", str(tmp_path / "two")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for i in range(2)]
    outputs = []
    for p in nodes:
        try:
            outputs.append(p.communicate(timeout=TIMEOUT)[0])
        except subprocess.TimeoutExpired:
            for q in nodes:
                q.kill()
            raise
    for p, out in zip(nodes, outputs):
        assert p.returncode == 0, "\n---\n".join(outputs)
    one, two = latest(tmp_path / "one"), latest(tmp_path / "two")
    assert two["loader"]["world"] == 2 and len(two["rng"]) == 2
    assert one["step"] == two["step"] == 6
    for net in one["nets"]:
        for k, v in one["nets"][net].items():
            torch.testing.assert_close(v, two["nets"][net][k], rtol=1e-5, atol=1e-6)
    assert torch.equal(one["noise"]["gen"], two["noise"]["gen"])
    log = (tmp_path / "two" / "log.txt").read_text()
    assert "processes 2" in log and "(streamed: data.stream=true" in log
