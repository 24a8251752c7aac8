"""Multi-process training for real: torchrun + gloo on CPU, and forked process groups.

* ``torchrun --nproc_per_node=2 -m gankit train`` with batch B per process matches one process
  with batch 2B to floating-point tolerance (the gradient all-reduce sums in another order);
* checkpoints move between world sizes in both directions (the loader counts global batches);
* ``gather_tensor`` returns every rank's rows in rank order;
* a non-finite loss or gradient on ONE rank stops (or rolls back) every rank, without a hang.

The `gan` MLP without dropout is used: dropout masks are drawn from per-rank RNG streams and
batch-norm statistics are per rank (see docs/distributed.md), so those models cannot match
a single process exactly.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from gankit.config import config_from_dict
from gankit.runfiles.checkpoint import load_checkpoint
from gankit.train.trainer import train

SRC = str(Path(__file__).resolve().parents[2] / "src")
TIMEOUT = 300  # seconds for one torchrun; a hang fails the test instead of blocking CI


def raw_config(batch_size=8, steps=6, **train_extra):
    return {
        "model": {"name": "gan", "g_hidden": [32], "d_hidden": [32], "z_dim": 8,
                  "d_dropout": 0.0},
        "data": {"dataset": "synthetic:64", "resolution": 16, "flip": False},
        "train": {"steps": steps, "batch_size": batch_size, "d_steps": 2, "ema_decay": 0.9,
                  "log_every": 2, "sample_every": 0, "checkpoint_every": 3,
                  "keep_checkpoints": 0, "progress": False, "threads": 1, "grid_size": 4,
                  "amp": "off", "device": "cpu", **train_extra},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC, env.get("PYTHONPATH")) if p)
    env["OMP_NUM_THREADS"] = "1"
    if sys.platform.startswith("linux") and Path("/sys/class/net/lo").exists():
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")  # containers: keep gloo on loopback
    return env


def torchrun(args: list[str], nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}", "-m", "gankit", *args]
    return subprocess.run(cmd, env=child_env(), capture_output=True, text=True, timeout=TIMEOUT)


def write_yaml(path: Path, raw: dict) -> str:
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def assert_close(a: dict, b: dict, rtol=1e-5, atol=1e-6):
    """Same step, and weights, EMA weights and Adam moments equal to floating-point tolerance."""
    assert a["step"] == b["step"]
    pairs = [(f"{n}.{k}", v, b["nets"][n][k]) for n in a["nets"] for k, v in a["nets"][n].items()]
    pairs += [(f"ema {n}.{k}", v, b["ema"][n][k]) for n in a["ema"] for k, v in a["ema"][n].items()]
    for ph in a["optimizers"]:
        sa, sb = a["optimizers"][ph]["state"], b["optimizers"][ph]["state"]
        pairs += [(f"adam {ph}.{i}.{k}", torch.as_tensor(sa[i][k]), torch.as_tensor(sb[i][k]))
                  for i in sa for k in sa[i]]
    for name, x, y in pairs:
        torch.testing.assert_close(x, y, rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")
    assert a["loader"]["drawn"] * a["loader"]["batch_size"] * a["loader"]["world"] == \
        b["loader"]["drawn"] * b["loader"]["batch_size"] * b["loader"]["world"]
    assert torch.equal(a["noise"]["gen"], b["noise"]["gen"])


def latest(run: Path) -> dict:
    return load_checkpoint(run / "checkpoints" / "latest.pt")


def test_two_processes_match_one_and_resume_in_one(tmp_path):
    train(config_from_dict(raw_config(batch_size=8)), tmp_path / "one")
    cfg2 = write_yaml(tmp_path / "two.yaml", raw_config(batch_size=4))
    p = torchrun(["train", cfg2, "--out", str(tmp_path / "two")])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Traceback" not in p.stderr
    one, two = latest(tmp_path / "one"), latest(tmp_path / "two")
    assert two["loader"]["world"] == 2 and len(two["rng"]) == 2  # one RNG state per rank
    assert_close(one, two)
    # rank 0 alone writes: one training record per logged step, one "done" line in the log
    records = [yaml.safe_load(line) for line in
               (tmp_path / "two" / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "images_seen" in r] == [2, 4, 6]
    assert (tmp_path / "two" / "log.txt").read_text().count("done:") == 1
    # the 2-process checkpoint of step 3 resumes in one process and ends where both ended
    train(config_from_dict(raw_config(batch_size=8)), tmp_path / "back",
          resume=tmp_path / "two" / "checkpoints" / "ckpt-000003.pt")
    assert_close(one, latest(tmp_path / "back"))


@pytest.mark.slow  # a second torchrun: ~20 s on a loaded 2-core machine
def test_one_process_checkpoint_resumes_in_two(tmp_path):
    train(config_from_dict(raw_config(batch_size=8)), tmp_path / "one")
    cfg2 = write_yaml(tmp_path / "two.yaml", raw_config(batch_size=4))
    p = torchrun(["train", cfg2, "--out", str(tmp_path / "two"),
                  "--resume", str(tmp_path / "one" / "checkpoints" / "ckpt-000003.pt")])
    assert p.returncode == 0, p.stdout + p.stderr
    assert "resumed from" in p.stderr
    assert_close(latest(tmp_path / "one"), latest(tmp_path / "two"))


@pytest.mark.slow
def test_batchnorm_model_trains_on_two_and_resumes_on_one(tmp_path):
    """dcgan's BN uses per-rank statistics (docs/distributed.md): not equal to one process, but
    its checkpoints move between world sizes like any other."""
    def dcgan(batch_size):
        raw = raw_config(batch_size=batch_size)
        raw["model"] = {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8}
        raw["data"]["resolution"] = 32
        return raw

    p = torchrun(["train", write_yaml(tmp_path / "two.yaml", dcgan(4)), "--out",
                  str(tmp_path / "two")])
    assert p.returncode == 0, p.stdout + p.stderr
    train(config_from_dict(dcgan(8)), tmp_path / "one",
          resume=tmp_path / "two" / "checkpoints" / "ckpt-000003.pt")
    assert latest(tmp_path / "one")["step"] == 6


@pytest.mark.slow
def test_a_failed_start_on_rank_0_stops_every_rank(tmp_path):
    """Rank 0 refuses the folder; rank 1, waiting in the broadcast, is stopped by torchrun."""
    cfg = write_yaml(tmp_path / "c.yaml", raw_config(batch_size=4, steps=2))
    train(config_from_dict(raw_config(batch_size=8, steps=2)), tmp_path / "run")
    start = time.monotonic()
    p = torchrun(["train", cfg, "--out", str(tmp_path / "run")])
    assert p.returncode != 0 and "already holds a run" in p.stderr
    assert time.monotonic() - start < TIMEOUT / 2


# --------------------------------------------------------------------------- forked groups

def _worker(rank, world, port, fn, queue):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank),
                      LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    try:
        out = ("ok", fn(rank))
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        out = ("error", f"{type(e).__name__}: {e}")
    queue.put((rank, out))
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def run_group(fn, world=2, timeout=120) -> dict[int, tuple[str, object]]:
    """Run ``fn(rank)`` in ``world`` forked processes joined in one gloo group; fail on a hang."""
    import torch._dynamo  # noqa: F401 - optimizers import it lazily (seconds); children inherit it

    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    port = free_port()
    procs = [ctx.Process(target=_worker, args=(r, world, port, fn, queue)) for r in range(world)]
    for p in procs:
        p.start()
    results, deadline = {}, time.monotonic() + timeout
    try:
        while len(results) < world and time.monotonic() < deadline:
            try:
                rank, out = queue.get(timeout=1)
                results[rank] = out
            except Exception:  # noqa: BLE001 - queue.Empty: keep waiting
                if all(not p.is_alive() for p in procs) and queue.empty():
                    break
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
    finally:
        hung = [p.pid for p in procs if p.is_alive()]
        for p in procs:
            if p.is_alive():
                p.kill()
    assert not hung, f"processes {hung} still running after {timeout} s (a hang); got {results}"
    assert len(results) == world, f"a rank died without reporting: {results}"
    return results


def test_gather_tensor_uneven_ranks():
    from gankit.train import distributed as D

    def fn(rank):
        info = D.init_distributed("cpu")
        mine = torch.arange(3 * (2 - rank) * 2, dtype=torch.float32).view(-1, 2) + 100 * rank
        return D.gather_tensor(mine, info).tolist()

    results = run_group(fn)
    want = (torch.cat([torch.arange(12.0).view(-1, 2), torch.arange(6.0).view(-1, 2) + 100])
            .tolist())
    assert results == {0: ("ok", want), 1: ("ok", want)}


def tiny_cfg(**train_extra):
    raw = raw_config(batch_size=4, steps=8, **{"checkpoint_every": 4, **train_extra})
    return config_from_dict(raw)


def _break_on_rank(trainer, rank, at_step, kind):
    """On ``rank`` only: a NaN G loss, or an Inf gradient with a finite loss, at ``at_step``."""
    if trainer.dist.rank != rank:
        return
    hits = []
    if kind == "nan_loss":
        orig = trainer.model.loss

        def loss(ph, batch, nets):
            value, logs = orig(ph, batch, nets)
            if trainer.step == at_step and ph == "G" and not hits:
                hits.append(1)
                value = value * float("nan")
            return value, logs

        trainer.model.loss = loss
    else:
        def hook(grad):
            if trainer.step == at_step and not hits:
                hits.append(1)
                return torch.full_like(grad, float("inf"))
            return grad

        trainer.model.nets["D"].net[0].weight.register_hook(hook)


def test_nan_on_one_rank_stops_every_rank(tmp_path):
    from gankit.train.trainer import Trainer

    def fn(rank):
        trainer = Trainer(tiny_cfg(), tmp_path / "run")
        _break_on_rank(trainer, rank=1, at_step=5, kind="nan_loss")
        trainer.run()

    results = run_group(fn)
    for rank in (0, 1):
        status, msg = results[rank]
        assert status == "error" and msg.startswith("TrainingError: non-finite loss at step 5 "
                                                    "in phase G"), (rank, msg)
        assert "ckpt-000004.pt" in msg  # every rank names the last good checkpoint
    assert latest(tmp_path / "run")["step"] == 4


def test_inf_gradient_on_one_rank_rolls_back_every_rank(tmp_path):
    from gankit.train.trainer import Trainer

    def fn(rank):
        trainer = Trainer(tiny_cfg(nan_policy="rollback"), tmp_path / "run")
        _break_on_rank(trainer, rank=1, at_step=5, kind="inf_grad")
        trainer.run()
        return trainer.step, trainer.lr_scale

    results = run_group(fn)
    assert results == {0: ("ok", (8, 0.5)), 1: ("ok", (8, 0.5))}
    state = latest(tmp_path / "run")
    assert state["step"] == 8 and state["lr_scale"] == 0.5 and state["rollbacks"] == 1
    events = [line for line in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()
              if '"event"' in line]
    assert len(events) == 1 and '"what": "non-finite gradient"' in events[0]
