"""Checkpoint files damaged on disk, foreign files, unwritable run folders, full disks.

Every failure must be a clear message (exit code 2, no traceback) and must leave the
checkpoints that were already written loadable and unchanged.
"""
from __future__ import annotations

import errno
import io
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from runkit import tiny_raw, write_yaml
from states import latest

from gankit.cli import main
from gankit.errors import CheckpointError
from gankit.runfiles import checkpoint as ckpt_mod
from gankit.runfiles.checkpoint import find_resumable, load_checkpoint


def short_raw(**train):
    return tiny_raw(**{"steps": 8, "checkpoint_every": 4, "keep_checkpoints": 0,
                       "sample_every": 0, **train})


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> tuple[str, Path]:
    """A finished 8-step run with checkpoints at steps 4 and 8 (latest.pt = step 8)."""
    tmp = tmp_path_factory.mktemp("finished")
    cfg = write_yaml(tmp / "run.yaml", short_raw())
    assert main(["train", cfg, "--out", str(tmp / "run")]) == 0
    return cfg, tmp / "run"


def copy_run(run: Path, dst: Path) -> Path:
    shutil.copytree(run, dst)
    return dst


def cli(argv, capsys) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def snapshot(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run / "checkpoints").glob("*.pt"))}


def replace_file(path: Path, data: bytes) -> None:
    path.unlink()  # latest.pt is a hard link of ckpt-*.pt: never write through it
    path.write_bytes(data)


TRUNCATIONS = {"empty": lambda n: 0, "1 byte": lambda n: 1, "64 bytes": lambda n: 64,
               "a third": lambda n: n // 3, "half": lambda n: n // 2,
               "all but the zip directory": lambda n: n - 200, "all but 1 byte": lambda n: n - 1}


@pytest.mark.parametrize("cut", list(TRUNCATIONS))
def test_truncated_checkpoint_is_refused_and_skipped(finished_run, tmp_path, cut):
    _, run = finished_run
    run = copy_run(run, tmp_path / "run")
    ckpts = run / "checkpoints"
    data = (ckpts / "ckpt-000008.pt").read_bytes()
    torn = data[:TRUNCATIONS[cut](len(data))]
    replace_file(ckpts / "latest.pt", torn)
    replace_file(ckpts / "ckpt-000008.pt", torn)
    for name in ("latest.pt", "ckpt-000008.pt"):
        with pytest.raises(CheckpointError, match=str(ckpts / name)):
            load_checkpoint(ckpts / name)
    path, state = find_resumable(ckpts)
    assert path.name == "ckpt-000004.pt" and state["step"] == 4


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_flipped_bits_are_caught_by_the_crc(finished_run, tmp_path, where):
    _, run = finished_run
    src = run / "checkpoints" / "ckpt-000004.pt"
    data = bytearray(src.read_bytes())
    data[int(len(data) * where)] ^= 0x10
    bad = tmp_path / "bad.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(bad)


def foreign_files(tmp: Path) -> dict[str, Path]:
    """Files a user might pass where a checkpoint is expected."""
    out = {}
    out["plain torch file"] = tmp / "weights.pt"
    torch.save({"weight": torch.zeros(3)}, out["plain torch file"])
    out["module pickle"] = tmp / "module.pt"
    torch.save(torch.nn.Linear(2, 2), out["module pickle"])  # needs code to unpickle
    out["python pickle"] = tmp / "obj.pkl"
    out["python pickle"].write_bytes(pickle.dumps({"format": "gankit.checkpoint"}))
    out["random bytes"] = tmp / "noise.pt"
    out["random bytes"].write_bytes(np.random.default_rng(0).bytes(4096))
    out["text"] = tmp / "notes.pt"
    out["text"].write_text("not a checkpoint\n")
    out["other zip"] = tmp / "other.zip"
    with zipfile.ZipFile(out["other zip"], "w") as z:
        z.writestr("hello.txt", "hi")
    out["npz"] = tmp / "arrays.npz"
    np.savez(out["npz"], images=np.zeros((2, 4, 4), np.uint8))
    buf = io.BytesIO()
    torch.save({"format": "gankit.checkpoint", "version": 99}, buf)
    out["newer gankit"] = tmp / "future.pt"
    out["newer gankit"].write_bytes(buf.getvalue())
    return out


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_foreign_files_are_refused(tmp_path):
    for what, path in foreign_files(tmp_path).items():
        with pytest.raises(CheckpointError, match=path.name) as e:
            load_checkpoint(path)
        assert "Traceback" not in str(e.value), what


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_cli_resume_from_damaged_or_foreign_file(finished_run, tmp_path, capsys):
    cfg, run = finished_run
    files = foreign_files(tmp_path)
    torn = tmp_path / "torn.pt"
    torn.write_bytes((run / "checkpoints" / "latest.pt").read_bytes()[:5000])
    files["truncated checkpoint"] = torn
    for what, path in files.items():
        out = tmp_path / f"out-{path.stem}"
        rc, err = cli(["train", cfg, "--out", str(out), "--resume", str(path)], capsys)
        assert rc == 2, what
        assert str(path) in err and "gankit: error:" in err, (what, err)
        assert not out.exists(), f"{what}: a failed resume created {out}"


def test_cli_resume_auto_falls_back_past_a_torn_latest(finished_run, tmp_path, capsys):
    cfg, run = finished_run
    run = copy_run(run, tmp_path / "run")
    ckpts = run / "checkpoints"
    for name in ("latest.pt", "ckpt-000008.pt"):
        replace_file(ckpts / name, (ckpts / name).read_bytes()[:1000])
    cfg12 = write_yaml(tmp_path / "more.yaml", short_raw(steps=12))
    rc, err = cli(["train", cfg12, "--out", str(run), "--resume", "auto"], capsys)
    assert rc == 0
    assert latest(run)["step"] == 12


def test_cli_resume_auto_with_only_unreadable_checkpoints_changes_nothing(finished_run, tmp_path,
                                                                          capsys):
    cfg, run = finished_run
    run = copy_run(run, tmp_path / "run")
    for p in (run / "checkpoints").glob("*.pt"):
        replace_file(p, b"garbage")
    before = snapshot(run)
    rc, err = cli(["train", cfg, "--out", str(run), "--resume", "auto"], capsys)
    assert rc == 2 and "can be read" in err and "--resume PATH" in err
    assert snapshot(run) == before


def test_unwritable_run_folder(tmp_path, capsys):
    """As root, permissions do not stop writes: a path under a regular file cannot be a folder."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    cfg = write_yaml(tmp_path / "run.yaml", short_raw())
    for out in (blocker / "run", blocker):
        rc, err = cli(["train", cfg, "--out", str(out)], capsys)
        assert rc == 2 and f"cannot write to the run folder {out}" in err, err
    assert blocker.read_text() == "x"


def test_full_disk_is_refused_before_training(tmp_path, capsys, monkeypatch):
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(2**30, 2**30 - 2**20, 2**20))
    cfg = write_yaml(tmp_path / "run.yaml", short_raw())
    rc, err = cli(["train", cfg, "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and "only 1 MiB free" in err
    assert not list((tmp_path / "run").glob("checkpoints/*.pt"))


def test_disk_full_during_checkpoint_keeps_the_previous_one(tmp_path, capsys, monkeypatch):
    real_write = ckpt_mod.atomic_write

    def enospc_at_step_8(path, write):
        if Path(path).name != "ckpt-000008.pt":
            return real_write(path, write)

        def half_then_fail(f):
            buf = io.BytesIO()
            write(buf)
            f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(path, half_then_fail)

    monkeypatch.setattr(ckpt_mod, "atomic_write", enospc_at_step_8)
    cfg = write_yaml(tmp_path / "run.yaml", short_raw())
    run = tmp_path / "run"
    rc, err = cli(["train", cfg, "--out", str(run)], capsys)
    assert rc == 2
    assert "could not write checkpoint" in err and "ckpt-000008.pt" in err
    assert "No space left on device" in err and "ckpt-000004.pt" in err
    ckpts = run / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["ckpt-000004.pt", "latest.pt"]
    assert (ckpts / "latest.pt").read_bytes() == (ckpts / "ckpt-000004.pt").read_bytes()
    assert latest(run)["step"] == 4
    monkeypatch.undo()  # space freed: the run continues
    rc, err = cli(["train", cfg, "--out", str(run), "--resume", "auto"], capsys)
    assert rc == 0 and latest(run)["step"] == 8


def test_disk_full_inside_torch_save_is_the_same_one_line_error(tmp_path, capsys, monkeypatch):
    # issue 17: a short write inside torch's zip writer surfaced as its own RuntimeError
    # ("unexpected pos"), not the documented message
    real_write = ckpt_mod.atomic_write

    class FullAfter(io.RawIOBase):
        def __init__(self, f, room):
            self.f, self.room = f, room

        def writable(self):
            return True

        def write(self, b):
            if len(b) > self.room:  # what a file on a full disk does
                raise OSError(errno.ENOSPC, "No space left on device")
            self.room -= len(b)
            return self.f.write(bytes(b))

    def full_at_step_8(path, write):
        if Path(path).name != "ckpt-000008.pt":
            return real_write(path, write)
        return real_write(path, lambda f: write(FullAfter(f, 600)))

    monkeypatch.setattr(ckpt_mod, "atomic_write", full_at_step_8)
    cfg = write_yaml(tmp_path / "run.yaml", short_raw())
    run = tmp_path / "run"
    rc, err = cli(["train", cfg, "--out", str(run)], capsys)
    assert rc == 2 and "unexpected pos" in err  # the cause is kept in the one line
    assert "could not write checkpoint" in err and "ckpt-000008.pt" in err
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["ckpt-000004.pt",
                                                                       "latest.pt"]


def test_disk_full_while_writing_a_sample_grid(tmp_path, capsys, monkeypatch):
    from gankit.train import trainer as trainer_mod

    def no_space(images, path, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(trainer_mod, "save_grid", no_space)
    cfg = write_yaml(tmp_path / "run.yaml", short_raw(sample_every=6))
    rc, err = cli(["train", cfg, "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and "No space left on device" in err
    assert "reals.png" in err and "no checkpoint had been written yet" in err


def test_resume_with_another_global_batch_is_refused(finished_run, tmp_path, capsys):
    cfg, run = finished_run
    run = copy_run(run, tmp_path / "run")
    before = snapshot(run)
    bigger = write_yaml(tmp_path / "b.yaml", short_raw(batch_size=16, steps=12))
    rc, err = cli(["train", bigger, "--out", str(run), "--resume", "auto"], capsys)
    assert rc == 2 and "different global batch size (8 before, 16 now)" in err
    assert snapshot(run) == before


def test_tidy_for_resume_keeps_what_preceded_the_checkpoint(tmp_path):
    from gankit.runfiles.checkpoint import tidy_for_resume

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / ".ckpt-000006.pt.abc.tmp").write_bytes(b"half")
    before = b'{"step": 2}\n{"step": 4}\n{"step": 4, "health/diversity": 0.3}\n'
    after = b'{"step": 6}\n{"step": 6, "event": "nonfinite"}\n{"step": 8, "lo'
    (tmp_path / "stats.jsonl").write_bytes(before + after)
    tidy_for_resume(tmp_path, 4, len(before))
    event = b'{"step": 6, "event": "nonfinite"}\n'
    assert (tmp_path / "stats.jsonl").read_bytes() == before + event
    assert not list((tmp_path / "checkpoints").iterdir())
    # older checkpoints without the size: by step
    (tmp_path / "stats.jsonl").write_bytes(before + after)
    tidy_for_resume(tmp_path, 2, None)
    assert (tmp_path / "stats.jsonl").read_bytes() == b'{"step": 2}\n' + event
