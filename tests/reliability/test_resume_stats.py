"""stats.jsonl around a resume (issue 17, item 9): a run stopped at a checkpoint taken between
two log lines and resumed writes the same lines as an uninterrupted run. The sums of the values
logged since the last line (the averaging window) are saved in the checkpoint and restored."""
from __future__ import annotations

import pytest
import torch
from runkit import stats_records, tiny_raw

from gankit.config import config_from_dict
from gankit.train.callbacks import Callback
from gankit.train.trainer import train

# log lines at 4, 8, 12; the checkpoint at 6 falls in the middle of the window 5..8
RAW = tiny_raw(steps=12, log_every=4, checkpoint_every=6, sample_every=0, keep_checkpoints=5)


class StopAfterCheckpoint(Callback):
    """Ctrl-C right after the checkpoint of ``step`` is written."""

    def __init__(self, step: int):
        self.step = step

    def on_checkpoint(self, trainer, path) -> None:
        if trainer.step == self.step:
            raise KeyboardInterrupt


def test_stats_lines_across_a_mid_window_resume_match_an_uninterrupted_run(tmp_path):
    train(config_from_dict(RAW), tmp_path / "whole")
    cut = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train(config_from_dict(RAW), cut, callbacks=[StopAfterCheckpoint(6)])
    ckpt = torch.load(cut / "checkpoints" / "ckpt-000006.pt", weights_only=True)
    assert ckpt["log_window"]["loss_d"][1] == 2 * RAW["train"]["d_steps"]  # steps 5, 6
    train(config_from_dict(RAW), cut, resume="auto")
    whole, resumed = stats_records(tmp_path / "whole"), stats_records(cut)
    assert [r["step"] for r in resumed] == [r["step"] for r in whole]
    assert resumed == whole  # every logged mean identical, bit for bit
