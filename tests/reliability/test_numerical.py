"""Non-finite numbers are caught on the step they appear, in the phase they appear.

(NaN losses with stop/rollback are in tests/train/test_resume.py; one rank of several in
tests/train/test_distributed.py.) Here: an Inf gradient behind a finite loss, an Inf loss, a
fault in the D phase, a fault before any checkpoint exists, and rollback giving up.
"""
from __future__ import annotations

import json

import pytest
import torch
from runkit import tiny_raw
from states import latest

from gankit.config import config_from_dict
from gankit.errors import TrainingError
from gankit.train.trainer import Trainer


def make(tmp_path, **train):
    raw = tiny_raw(**{"steps": 8, "checkpoint_every": 4, "sample_every": 0, **train})
    return Trainer(config_from_dict(raw), tmp_path / "run")


def inf_grad(trainer, net, at_step, times=1):
    """An Inf gradient in ``net``'s first layer at ``at_step`` (the first ``times`` times it
    runs) while every loss stays finite."""
    hits = []

    def hook(grad):
        if trainer.step == at_step and len(hits) < times:
            hits.append(trainer.step)
            return torch.full_like(grad, float("inf"))
        return grad

    trainer.model.nets[net].net[0].weight.register_hook(hook)
    return hits


def scaled_loss(trainer, phase, at_step, factor):
    orig = trainer.model.loss

    def loss(ph, batch, nets):
        value, logs = orig(ph, batch, nets)
        if trainer.step == at_step and ph == phase:
            value = value * factor
        return value, logs

    trainer.model.loss = loss


def events(tmp_path):
    lines = (tmp_path / "run" / "stats.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if '"event"' in x]


def test_inf_gradient_with_finite_loss_stops(tmp_path):
    trainer = make(tmp_path)
    hits = inf_grad(trainer, "G", 6)
    with pytest.raises(TrainingError, match=r"non-finite gradient at step 6 in phase G; "
                                            r"training stopped and the last good checkpoint "
                                            r"is .*ckpt-000004\.pt"):
        trainer.run()
    assert hits == [6]
    assert latest(tmp_path / "run")["step"] == 4
    assert events(tmp_path) == [{"time": events(tmp_path)[0]["time"], "step": 6,
                                 "event": "nonfinite", "phase": "G",
                                 "what": "non-finite gradient"}]


def test_inf_gradient_in_d_rolls_back(tmp_path):
    trainer = make(tmp_path, nan_policy="rollback")
    hits = inf_grad(trainer, "D", 5)
    trainer.run()
    assert hits == [5]  # the replayed step 5 runs with finite numbers
    state = latest(tmp_path / "run")
    assert state["step"] == 8 and state["lr_scale"] == 0.5 and state["rollbacks"] == 1
    assert [e["phase"] for e in events(tmp_path)] == ["D"]


def test_inf_loss_is_caught(tmp_path):
    trainer = make(tmp_path)
    scaled_loss(trainer, "D", 2, float("inf"))
    with pytest.raises(TrainingError, match="non-finite loss at step 2 in phase D; training "
                                            "stopped and no checkpoint had been written yet"):
        trainer.run()
    assert not (tmp_path / "run" / "checkpoints" / "latest.pt").exists()


def test_rollback_without_a_checkpoint_stops(tmp_path):
    trainer = make(tmp_path, nan_policy="rollback")
    scaled_loss(trainer, "G", 1, float("nan"))
    with pytest.raises(TrainingError, match="non-finite loss at step 1 in phase G"):
        trainer.run()


def test_rollback_gives_up_after_three_tries(tmp_path):
    trainer = make(tmp_path, nan_policy="rollback")
    hits = inf_grad(trainer, "G", 6, times=99)  # fires on every replay of step 6
    with pytest.raises(TrainingError, match="non-finite gradient at step 6 in phase G"):
        trainer.run()
    assert hits == [6, 6, 6, 6]
    assert len(events(tmp_path)) == 4
    assert latest(tmp_path / "run")["step"] == 4  # the last good checkpoint is kept
