"""Console progress: a bar on a terminal, one plain line per log step elsewhere."""
from __future__ import annotations

import io
import re

from gankit.config import config_from_dict
from gankit.train.progress import Progress, duration
from gankit.train.trainer import train


class Terminal(io.StringIO):
    def isatty(self):
        return True


def record(step, **extra):
    return {"step": step, "images_seen": step * 64, "loss_d": 1.25, "d_real": 0.6,
            "loss_g": 0.75, "img_per_s": 1234.4, "lr_scale": 1.0, **extra}


def drive(stream, steps=10, log_every=5, enabled=True):
    bar = Progress(steps, 0, enabled=enabled, stream=stream)
    for step in range(1, steps + 1):
        bar.update()
        if step % log_every == 0:
            bar.log(record(step))
    bar.close()
    return stream.getvalue()


def test_plain_lines_when_the_stream_is_not_a_terminal():
    text = drive(io.StringIO())
    lines = text.splitlines()
    assert len(lines) == 2 and "\r" not in text
    first = lines[0]
    assert first.startswith("step 5/10 (50%)  kimg 0.320  1234 img/s  loss_d 1.25  loss_g 0.75")
    assert "d_real" not in first and re.search(r"elapsed \d+s  ETA \d+s$", first)
    assert lines[1].startswith("step 10/10 (100%)") and "ETA" not in lines[1]


def test_a_terminal_keeps_the_bar():
    text = drive(Terminal())
    assert "\r" in text and "it/s" not in text and "loss_d=1.25" in text
    assert not re.search(r"^step \d+/", text, re.M)


def test_disabled_progress_writes_nothing():
    assert drive(io.StringIO(), enabled=False) == ""
    assert drive(Terminal(), enabled=False) == ""


def test_eta_uses_the_pace_since_the_last_rewind():
    bar = Progress(100, 40, stream=io.StringIO())
    bar._t0 -= 30.0  # 30 s since the (re)start ...
    bar.step = 50    # ... for 10 steps: 3 s a step, 50 steps left
    assert bar.line(record(50)).endswith("ETA 2m30s")
    bar.rewind(45)   # a rollback: the pace is measured again
    assert "ETA" not in bar.line(record(45))


def test_duration():
    assert [duration(s) for s in (0, 42.4, 185, 7625, 273600)] == \
        ["0s", "42s", "3m05s", "2h07m", "3d04h"]


def test_redirected_run_writes_one_plain_line_per_log_step(tmp_path, capsys):
    cfg = config_from_dict({
        "model": {"name": "gan", "g_hidden": [16], "d_hidden": [16], "z_dim": 4},
        "data": {"dataset": "synthetic:32", "resolution": 8},
        "train": {"steps": 7, "batch_size": 8, "log_every": 2, "sample_every": 0,
                  "checkpoint_every": 0, "progress": True, "threads": 1, "grid_size": 4,
                  "report": False, "health": False}})
    train(cfg, tmp_path / "run")
    err = capsys.readouterr().err  # pytest's capture is not a terminal, like nohup's log
    assert "\r" not in err
    steps = [int(m) for m in re.findall(r"^step (\d+)/7 ", err, re.M)]
    assert steps == [2, 4, 6, 7]  # the log steps and the last one
