"""Malicious pickles (issue 17, what held): a file whose unpickling would run code is refused,
and the code never runs, through `gankit sample`, `gankit train --resume` and the studio.

The payload is harmless but visible: unpickling it creates a file (``Path.touch``).
"""
from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from runkit import tiny_raw, write_yaml

from gankit.cli import main
from gankit.runfiles.checkpoint import load_checkpoint, save_checkpoint


class Payload:
    """Unpickling this calls ``Path(sentinel).touch()``: code the loader must never run."""

    def __init__(self, sentinel: Path):
        self.sentinel = sentinel

    def __reduce__(self):
        return (Path.touch, (Path(self.sentinel),))


def variants(tmp: Path, good: Path, sentinel: Path) -> dict[str, Path]:
    """Four ways to smuggle the payload in where a checkpoint is read."""
    out = {}
    out["torch.save of the payload"] = tmp / "torch-payload.pt"
    torch.save({"format": "gankit.checkpoint", "x": Payload(sentinel)},
               out["torch.save of the payload"])
    out["plain pickle of the payload"] = tmp / "pickle-payload.pt"
    out["plain pickle of the payload"].write_bytes(pickle.dumps(Payload(sentinel)))
    # a real checkpoint with the payload inside its state, written by gankit itself (so its
    # checksums are right: only the restricted unpickler stands in the way)
    state = torch.load(good, weights_only=True)
    state["model_extra"] = {"evil": Payload(sentinel)}
    out["gankit checkpoint with a payload"] = save_checkpoint(
        {k: v for k, v in state.items() if k not in ("format", "version")},
        tmp / "ckpt-payload.pt")
    # the payload hidden in the optimizer state of an otherwise valid checkpoint
    state = torch.load(good, weights_only=True)
    opt = next(iter(state["optimizers"].values()))
    opt["param_groups"][0]["evil"] = Payload(sentinel)
    out["payload in the optimizer state"] = save_checkpoint(
        {k: v for k, v in state.items() if k not in ("format", "version")},
        tmp / "opt-payload.pt")
    return out


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("pickles")
    cfg = write_yaml(tmp / "run.yaml", tiny_raw(steps=4, checkpoint_every=4, sample_every=0,
                                                 keep_checkpoints=0))
    assert main(["train", cfg, "--out", str(tmp / "run")]) == 0
    return cfg, tmp / "run"


@pytest.fixture
def payloads(good_run, tmp_path) -> tuple[dict[str, Path], Path]:
    sentinel = tmp_path / "PWNED"
    files = variants(tmp_path, good_run[1] / "checkpoints" / "latest.pt", sentinel)
    assert not sentinel.exists()
    return files, sentinel


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("route", ["load_checkpoint", "sample", "resume", "studio"])
def test_a_malicious_pickle_never_runs(good_run, payloads, tmp_path, capsys, route):
    cfg, run = good_run
    files, sentinel = payloads
    for what, path in files.items():
        if route == "load_checkpoint":
            with pytest.raises(Exception) as e:
                load_checkpoint(path)
            assert type(e.value).__name__ == "CheckpointError", what
        elif route == "sample":
            rc = main(["sample", str(path), "--seeds", "0-3", "--out", str(tmp_path / "g.png")])
            err = capsys.readouterr().err
            assert rc == 2 and "Traceback" not in err and str(path) in err, (what, err)
        elif route == "resume":
            out = tmp_path / f"out-{path.stem}"
            rc = main(["train", cfg, "--out", str(out), "--resume", str(path)])
            err = capsys.readouterr().err
            assert rc == 2 and "Traceback" not in err, (what, err)
        else:
            _through_the_studio(run, path, tmp_path / f"runs-{path.stem}")
        assert not sentinel.exists(), f"{what} via {route}: the payload ran"


def _through_the_studio(good: Path, payload: Path, runs: Path) -> None:
    """A run folder whose only checkpoint is the payload: the studio answers an error."""
    pytest.importorskip("starlette", reason="the studio needs pip install 'gankit[studio]'")
    from gankit.studio.server import start_server

    run = runs / "00000-evil"
    run.mkdir(parents=True)
    shutil.copy(good / "config.yaml", run / "config.yaml")
    (run / "checkpoints").mkdir()
    shutil.copy(payload, run / "checkpoints" / "latest.pt")
    server, url = start_server(runs)
    try:
        import http.client
        import urllib.parse

        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        conn.request("POST", "/api/sample", json.dumps({"run": "00000-evil", "seeds": "0"}),
                     {"Content-Type": "application/json"})
        res = conn.getresponse()
        body = json.loads(res.read())
        conn.close()
        assert 400 <= res.status < 500 and "error" in body, (res.status, body)
    finally:
        server.shutdown()
        server.server_close()
