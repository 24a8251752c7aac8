"""Resuming from an earlier checkpoint in the same run folder (issue 17, item 1) starts a
branch: nothing is lost, pruning and --resume auto follow the current branch, and
stats.jsonl stays whole and ordered by step."""
from __future__ import annotations

import json
from pathlib import Path

import torch
from runkit import tiny_raw, write_yaml

from gankit.cli import main


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _step(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["step"])


def test_branched_resume_loses_nothing_and_auto_follows_the_branch(tmp_path, capsys):
    r = tmp_path / "r"
    a = write_yaml(tmp_path / "a.yaml", tiny_raw(steps=20, checkpoint_every=5,
                                                  keep_checkpoints=10, sample_every=0))
    assert main(["train", a, "--out", str(r)]) == 0
    old = {n: (r / "checkpoints" / n).read_bytes() for n in _names(r / "checkpoints")}
    # the commands: back to step 5, a shorter run with tight pruning
    b = write_yaml(tmp_path / "b.yaml", tiny_raw(steps=12, checkpoint_every=2,
                                                  keep_checkpoints=2, sample_every=0))
    assert main(["train", b, "--resume", str(r / "checkpoints" / "ckpt-000005.pt"),
                 "--out", str(r)]) == 0
    assert _names(r / "checkpoints") == ["ckpt-000010.pt", "ckpt-000012.pt", "latest.pt"]
    assert _step(r / "checkpoints" / "latest.pt") == 12
    # the abandoned history moved, byte for byte, next to a record of where it came from
    (branch,) = (r / "branches").iterdir()
    assert _names(branch / "checkpoints") == ["ckpt-000010.pt", "ckpt-000015.pt",
                                              "ckpt-000020.pt", "latest.pt"]
    for n in ("ckpt-000010.pt", "ckpt-000015.pt", "ckpt-000020.pt"):
        assert (branch / "checkpoints" / n).read_bytes() == old[n]
    (record,) = [json.loads(x) for x in (r / "lineage.jsonl").read_text().splitlines()]
    assert record["step"] == 5 and record["resumed_from"].endswith("ckpt-000005.pt")
    assert record["moved_to"] == str(branch.relative_to(r))
    old_steps = [json.loads(x)["step"] for x in (branch / "stats.jsonl").read_text().splitlines()]
    assert old_steps and min(old_steps) > 5 and max(old_steps) == 20
    # --resume auto continues the current branch (12), not the abandoned step 20
    c = write_yaml(tmp_path / "c.yaml", tiny_raw(steps=16, checkpoint_every=2,
                                                  keep_checkpoints=2, sample_every=0))
    assert main(["train", c, "--resume", "auto", "--out", str(r)]) == 0
    assert _step(r / "checkpoints" / "latest.pt") == 16
    records = [json.loads(x) for x in (r / "stats.jsonl").read_text().splitlines()]  # no torn line
    steps = [x["step"] for x in records if "images_seen" in x]  # the log records
    assert steps == sorted(steps) and steps[-1] == 16 and len(steps) == len(set(steps))
    assert len(list((r / "branches").iterdir())) == 1  # resuming the newest is no branch


def test_resuming_the_newest_checkpoint_makes_no_branch(tmp_path):
    r = tmp_path / "r"
    a = write_yaml(tmp_path / "a.yaml", tiny_raw(steps=8, checkpoint_every=4, sample_every=0))
    assert main(["train", a, "--out", str(r)]) == 0
    b = write_yaml(tmp_path / "b.yaml", tiny_raw(steps=12, checkpoint_every=4, sample_every=0))
    assert main(["train", b, "--resume", "auto", "--out", str(r)]) == 0
    assert not (r / "branches").exists() and not (r / "lineage.jsonl").exists()
