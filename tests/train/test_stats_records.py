"""stats.jsonl holds one record per step (issue 18): what the trainer logs at a step and what
observers add at it (the health monitor's diversity at a sample step, a callback's own numbers)
is one JSON object, written once, even where log and sample steps coincide; the record is
written before the step's checkpoint, so a resume cuts the file at a record boundary."""
from __future__ import annotations

import json

import pytest
import torch

from gankit.train.callbacks import Callback
from gankit.train.trainer import train
from states import tiny_gan_config


def tiny_cfg(**train):
    return tiny_gan_config(**{"steps": 12, "sample_every": 3, "checkpoint_every": 6,
                              "amp": "off", **train})


class OwnLine(Callback):
    """Writes its own stats line, with a warning, at every sample step; remembers the
    ``stats`` events it was handed."""

    def __init__(self):
        self.lines = []

    def on_sample(self, trainer, path):
        trainer.write_stats({"step": trainer.step, "mine/value": float(trainer.step),
                             "warnings": [{"kind": "mine", "step": trainer.step,
                                           "message": "m", "hint": "h"}]})

    def on_event(self, trainer, event):
        if event.get("event") == "stats":
            self.lines.append(event["line"])


def records(run):
    return [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]


def test_one_record_per_step_where_log_and_sample_steps_coincide(tmp_path):
    mine = OwnLine()
    run = train(tiny_cfg(), tmp_path / "run", callbacks=[mine])
    recs = records(run)
    steps = [r["step"] for r in recs]
    # log steps 2, 4, ..., 12 and sample steps 3, 6, 9, 12 (6 and 12 are both): each once
    assert steps == [2, 3, 4, 6, 8, 9, 10, 12]
    by_step = {r["step"]: r for r in recs}
    for s in (6, 12):  # a log and a sample step: the log window, diversity and mine together
        r = by_step[s]
        assert {"loss_d", "loss_g", "images_seen", "health/diversity", "mine/value"} <= set(r)
        assert r["mine/value"] == float(s)
        assert [w["kind"] for w in r["warnings"]] == ["mine"]
    for s in (3, 9):  # a sample step alone: no log window, but diversity and mine
        assert "loss_d" not in by_step[s] and "health/diversity" in by_step[s]
    for s in (2, 4, 8, 10):  # a log step alone
        assert "loss_d" in by_step[s] and "health/diversity" not in by_step[s]
    # the observers were still handed each line, as a stats event
    assert [x["step"] for x in mine.lines if "mine/value" in x] == [3, 6, 9, 12]
    # a checkpoint's stats_bytes ends at the record of its own step
    ckpt = torch.load(run / "checkpoints" / "ckpt-000006.pt", weights_only=True)
    head = (run / "stats.jsonl").read_bytes()[:ckpt["stats_bytes"]]
    assert [json.loads(x)["step"] for x in head.splitlines()] == [2, 3, 4, 6]


@pytest.mark.parametrize("sample_every", [0, 5])
def test_the_last_step_is_one_record_with_its_grid(tmp_path, sample_every):
    # the final grid (off the sample schedule) is taken before the final checkpoint, into
    # the last step's record
    run = train(tiny_cfg(steps=7, sample_every=sample_every, checkpoint_every=0),
                tmp_path / "run")
    recs = records(run)
    steps = [r["step"] for r in recs]
    assert len(steps) == len(set(steps)) and steps[-1] == 7
    assert {"loss_d", "health/diversity"} <= set(recs[-1])
    assert (run / "fakes_000007.png").exists()
    ckpt = torch.load(run / "checkpoints" / "latest.pt", weights_only=True)
    assert ckpt["step"] == 7 and ckpt["stats_bytes"] == (run / "stats.jsonl").stat().st_size
