"""kill -9 at random moments, then ``--resume auto``: the run ends bit-identical to an
uninterrupted one, and every checkpoint file left on disk loads (also when the killed run was a
branch: resumed from an earlier checkpoint of a finished run; the slow tier).

Each trial starts ``gankit train`` in another process and SIGKILLs it either after a random
delay (anywhere in a step, a log line, a sample grid or a checkpoint write) or right after the
k-th checkpoint temp file appears (a kill during a checkpoint write). It then checks every
``ckpt-*.pt``/``latest.pt`` on disk loads, resumes with ``gankit train --resume auto`` to the end,
and compares weights, EMA, Adam state, loader/noise state and stats.jsonl with the
uninterrupted run. The fast tier forks this interpreter (4 trials); the slow soak starts a
fresh ``python -m gankit`` per trial (30 trials) and prints a survival table.
"""
from __future__ import annotations

import random
import shutil
import time
from collections import Counter
from pathlib import Path

import pytest
from runkit import Child, stats_records, tiny_raw, wait_for, write_yaml
from states import assert_states_equal, latest

from gankit.cli import main
from gankit.runfiles.checkpoint import load_checkpoint


def reference(tmp: Path, fork: bool) -> tuple[str, Path, float]:
    """Config path, an uninterrupted run of it, and how long its training part took."""
    cfg = write_yaml(tmp / "crash.yaml", tiny_raw())
    ref = tmp / "reference"
    if fork:  # in this process: also imports everything the forked children will need
        import torch._dynamo  # noqa: F401 - (optimizers import it lazily: seconds)

        assert main(["train", cfg, "--out", str(ref)]) == 0
    else:
        child = Child(["train", cfg, "--out", str(ref)], fork, tmp / "reference.log")
        assert child.wait() == 0, (tmp / "reference.log").read_text()
    # the run proper: from writing config.yaml (after start-up) to the end
    return cfg, ref, time.time() - (ref / "config.yaml").stat().st_mtime


def one_trial(cfg: str, ref: Path, out: Path, mode: str, rng: random.Random, t_run: float,
              fork: bool) -> str:
    """Run, SIGKILL, check, resume, compare. Returns where the kill landed."""
    child = Child(["train", cfg, "--out", str(out)], fork, out.with_suffix(".log"))
    ckpts = out / "checkpoints"
    assert wait_for(lambda: (out / "config.yaml").exists(), child), "the run never started"
    if mode == "random":
        time.sleep(rng.uniform(0, 0.9 * t_run))
    else:  # kill as soon as the k-th checkpoint temp file shows up
        k, seen = rng.randint(1, 6), set()

        def kth_tmp():
            if ckpts.is_dir():
                seen.update(p.name for p in ckpts.glob(".ckpt-*.tmp"))
            return len(seen) >= k
        wait_for(kth_tmp, child, poll=0.0002)
    finished = not child.alive()
    child.kill()
    child.wait()

    files = sorted(ckpts.glob("*.pt")) if ckpts.is_dir() else []
    torn = sorted(ckpts.glob(".*.tmp")) if ckpts.is_dir() else []
    for f in files:  # every complete checkpoint name loads: nothing half-written is visible
        load_checkpoint(f)
    if finished:
        where = "after the run ended"
    elif torn:
        where = "during a checkpoint write"
    elif not files:
        where = "before the first checkpoint"
    else:
        where = "between checkpoints"

    assert main(["train", cfg, "--out", str(out), "--resume", "auto"]) == 0
    assert_states_equal(latest(ref), latest(out))
    assert stats_records(out) == stats_records(ref)  # same numbers, no duplicated steps
    assert not list(ckpts.glob(".*.tmp")), "temp files of the killed write were left behind"
    return where


def soak(tmp_path: Path, trials: int, fork: bool, seed: int) -> Counter:
    cfg, ref, t_run = reference(tmp_path, fork)
    rng = random.Random(seed)
    where: Counter = Counter()
    for i in range(trials):
        mode = "random" if i % 2 == 0 else "write"
        where[one_trial(cfg, ref, tmp_path / f"trial{i:02d}", mode, rng, t_run, fork)] += 1
    print(f"\nSIGKILL soak ({'forked' if fork else 'fresh'} processes, run of {t_run:.2f} s): "
          f"{trials}/{trials} resumed runs equal the uninterrupted one; kills landed: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(where.items())))
    return where


def test_sigkill_fast(tmp_path):
    where = soak(tmp_path, trials=4, fork=True, seed=1)
    assert sum(where.values()) == 4


@pytest.mark.slow
def test_sigkill_soak(tmp_path):
    where = soak(tmp_path, trials=30, fork=False, seed=2026)
    assert sum(where.values()) == 30
    assert where["during a checkpoint write"] >= 1  # the soak did hit writes


def branched_trial(cfg: str, ref: Path, out: Path, rng: random.Random,
                   window: tuple[float, float], fork: bool) -> str:
    """Resume a finished run from one of its earlier checkpoints (a branch), SIGKILL it at a
    random moment, check that no checkpoint of the abandoned history is lost and that every
    file loads, then ``--resume auto`` to the end: the result equals the uninterrupted run."""
    shutil.copytree(ref, out)
    ckpts = out / "checkpoints"
    before = {p.name: p.read_bytes() for p in ckpts.glob("ckpt-*.pt")}
    k = rng.choice(sorted(before)[:-1])  # any checkpoint but the newest: a real branch
    child = Child(["train", cfg, "--out", str(out), "--resume", str(ckpts / k)], fork,
                  out.with_suffix(".log"))
    time.sleep(rng.uniform(*window))
    finished = not child.alive()
    child.kill()
    child.wait()
    for f in out.rglob("*.pt"):  # every complete checkpoint, on every branch, loads
        load_checkpoint(f)
    for name, data in before.items():  # the abandoned history is kept byte for byte
        assert any(p.read_bytes() == data for p in out.rglob(name)), f"{name} was lost"
    branched = (out / "branches").is_dir()
    assert main(["train", cfg, "--out", str(out), "--resume", "auto"]) == 0
    assert_states_equal(latest(ref), latest(out))
    assert stats_records(out) == stats_records(ref)  # whole, ordered, no duplicated step
    if finished:
        return "after the branch ended"
    return "after the branch began" if branched else "before the branch began"


@pytest.mark.slow
def test_sigkill_soak_with_branched_resumes(tmp_path):
    raw = tiny_raw(keep_checkpoints=10)
    cfg = write_yaml(tmp_path / "branch.yaml", raw)
    ref = tmp_path / "reference"
    t0 = time.time()
    child = Child(["train", cfg, "--out", str(ref)], False, tmp_path / "reference.log")
    assert child.wait() == 0, (tmp_path / "reference.log").read_text()
    t_total = time.time() - t0
    t_run = time.time() - (ref / "config.yaml").stat().st_mtime  # after start-up
    # kills from a little before the run proper (start-up, the branch being made) to its end
    window = (max(0.0, t_total - 1.5 * t_run), t_total)
    rng, where = random.Random(17), Counter()
    for i in range(20):
        where[branched_trial(cfg, ref, tmp_path / f"branch{i:02d}", rng, window, False)] += 1
    print("\nSIGKILL soak with branched resumes: 20/20 equal the uninterrupted run; kills "
          "landed: " + ", ".join(f"{k}: {v}" for k, v in sorted(where.items())))
    assert sum(where.values()) == 20
    assert where["after the branch began"] >= 1  # the soak did kill branches mid-way
