"""Callbacks given to train() add to the defaults; default_callbacks=False runs them alone."""
from __future__ import annotations

import pytest

from gankit.metrics.training import EvalCallback
from gankit.train.callbacks import Callback
from gankit.train.observers import ModelCardWriter, build_callbacks, default_callbacks
from gankit.train.health import HealthMonitor
from gankit.train.report import ReportWriter
from gankit.train.trainer import train
from states import tiny_gan_config


class Recorder(Callback):
    def __init__(self):
        self.events = []

    def on_start(self, trainer):
        self.events.append("start")

    def on_log(self, trainer, record):
        self.events.append(("log", record["step"]))

    def on_sample(self, trainer, path):
        self.events.append(("sample", trainer.step))

    def on_checkpoint(self, trainer, path):
        self.events.append(("checkpoint", trainer.step))

    def on_end(self, trainer):
        self.events.append("end")


def test_given_callbacks_sit_between_the_observers_and_the_sinks():
    cfg = tiny_gan_config()
    cfg.eval.every = 4
    mine = Recorder()
    kinds = [type(c) for c in build_callbacks(cfg, [mine])]
    assert kinds == [HealthMonitor, EvalCallback, Recorder, ModelCardWriter, ReportWriter]
    assert [type(c) for c in default_callbacks(cfg)] == [HealthMonitor, EvalCallback,
                                                          ModelCardWriter, ReportWriter]
    assert build_callbacks(cfg, [mine], defaults=False) == [mine]
    cfg.train.health = cfg.train.report = False
    cfg.eval.every = 0
    assert [type(c) for c in build_callbacks(cfg, [mine])] == [Recorder, ModelCardWriter]


@pytest.mark.parametrize("defaults", [True, False])
def test_train_adds_callbacks_to_the_defaults(tmp_path, defaults):
    mine = Recorder()
    run = train(tiny_gan_config(), tmp_path / "run", callbacks=[mine], default_callbacks=defaults)
    assert mine.events == ["start", ("log", 2), ("sample", 2), ("log", 4), ("sample", 4),
                           ("checkpoint", 4), "end"]
    # the report and the health monitor's stats lines stay with a callback of one's own
    assert (run / "report.html").exists() == defaults
    assert ("health/diversity" in (run / "stats.jsonl").read_text()) == defaults
