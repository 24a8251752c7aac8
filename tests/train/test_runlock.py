"""One trainer per run folder (issue 17, item 6): a second one is refused with a message
naming the holder; a lock left by a killed process is taken over; failed starts leave no
lock behind."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from gankit.config import config_from_dict
from gankit.errors import TrainingError
from gankit.train.runlock import LOCK_NAME, RunLock
from gankit.train.trainer import Trainer


def _cfg(steps=2):
    return config_from_dict({"model": {"name": "gan", "g_hidden": [8], "d_hidden": [8],
                                       "z_dim": 4},
                             "data": {"dataset": "synthetic:32", "resolution": 8,
                                      "channels": 1},
                             "train": {"steps": steps, "batch_size": 8, "progress": False,
                                       "sample_every": 0, "checkpoint_every": 1}})


def test_a_second_trainer_on_a_busy_folder_is_refused(tmp_path):
    first = Trainer(_cfg(), tmp_path / "run")
    with pytest.raises(TrainingError, match=f"in use by gankit \\(pid {os.getpid()}"):
        Trainer(_cfg(), tmp_path / "run", resume="auto")
    first.run()  # the holder is unaffected, and releases the folder when it ends
    assert (tmp_path / "run" / LOCK_NAME).read_text() == ""
    Trainer(_cfg(4), tmp_path / "run", resume="auto").run()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    out = tmp_path / "run"
    code = textwrap.dedent(f"""
        import sys, time
        from gankit.train.runlock import RunLock
        lock = RunLock({str(out)!r}).acquire()  # kept: the lock lives as long as it
        print("held", flush=True)
        time.sleep(60)
    """)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(TrainingError, match=f"pid {child.pid}"):
            RunLock(out).acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    lock = RunLock(out).acquire()
    assert lock.held and f"pid {os.getpid()}" in (out / LOCK_NAME).read_text()
    lock.release()


def test_a_failed_start_leaves_no_folder_and_no_lock(tmp_path):
    with pytest.raises(Exception):
        Trainer(_cfg(), tmp_path / "new", resume=tmp_path / "missing.pt")
    assert not (tmp_path / "new").exists()
    Trainer(_cfg(), tmp_path / "new").run()  # and nothing holds it
