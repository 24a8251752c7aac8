"""A resumed run continues exactly as an uninterrupted one."""
import pytest

from gankit.config import config_from_dict
from gankit.errors import CheckpointError, TrainingError
from gankit.train.trainer import train
from states import Crash, assert_resumes_exactly, latest


def cfg_for(model, steps=8, **extra):
    model_cfg = {"gan": {"name": "gan", "g_hidden": [32], "d_hidden": [32], "z_dim": 8,
                         "d_dropout": 0.3},
                 "dcgan": {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8}}[model]
    return config_from_dict({
        "model": model_cfg,
        "data": {"dataset": "synthetic:64", "resolution": 32 if model == "dcgan" else 16,
                 "flip": True},
        "train": {"steps": steps, "batch_size": 8, "log_every": 2, "sample_every": 3,
                  "checkpoint_every": 4, "progress": False, "threads": 1, "grid_size": 4,
                  **extra},
    })


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_exact_resume(model, tmp_path):
    cfg = cfg_for(model, ema_decay=0.9, d_steps=2)
    assert_resumes_exactly(cfg, tmp_path, at=4)
    # the sample grids written after the resume match the uninterrupted run's
    assert (tmp_path / "full" / "fakes_000006.png").read_bytes() == \
        (tmp_path / "cut" / "fakes_000006.png").read_bytes()


def test_resume_falls_back_past_a_truncated_checkpoint(tmp_path):
    cfg = cfg_for("gan")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", callbacks=[Crash(8)])
    ckpts = tmp_path / "run" / "checkpoints"
    whole = (ckpts / "latest.pt").read_bytes()
    # both names of step 8 are torn (latest.pt is a hard link, so write a new file)
    (ckpts / "latest.pt").unlink()
    (ckpts / "latest.pt").write_bytes(whole[: len(whole) // 3])
    (ckpts / "ckpt-000008.pt").unlink()
    (ckpts / "ckpt-000008.pt").write_bytes(b"")
    train(cfg_for("gan", steps=10), tmp_path / "run", resume="auto")
    assert latest(tmp_path / "run")["step"] == 10


def test_existing_run_is_never_overwritten(tmp_path):
    cfg = cfg_for("gan", steps=2)
    train(cfg, tmp_path / "run")
    before = (tmp_path / "run" / "checkpoints" / "latest.pt").read_bytes()
    with pytest.raises(TrainingError, match="already holds a run"):
        train(cfg, tmp_path / "run")
    assert (tmp_path / "run" / "checkpoints" / "latest.pt").read_bytes() == before


def test_resume_with_other_model_is_refused(tmp_path):
    train(cfg_for("gan", steps=2), tmp_path / "run")
    other = cfg_for("gan", steps=4)
    other.model.g_hidden = [64]
    with pytest.raises(CheckpointError, match="different model settings") as e:
        train(other, tmp_path / "run", resume="auto")
    # only the differing key, not two whole config dumps (issue 18)
    assert f"checkpoint -> config: model.g_hidden: {cfg_for('gan', 2).model.g_hidden} -> [64])" \
        in str(e.value)
    assert "ndf" not in str(e.value) and "z_dim" not in str(e.value)


def _poison(trainer, at_step, phase="G", times=1):
    """Make the loss of ``phase`` NaN at ``at_step`` (the first ``times`` occurrences)."""
    orig, hits = trainer.model.loss, []

    def loss(ph, batch, nets):
        value, logs = orig(ph, batch, nets)
        if trainer.step == at_step and ph == phase and len(hits) < times:
            hits.append(1)
            value = value * float("nan")
        return value, logs

    trainer.model.loss = loss
    return hits


def test_nan_stops_and_keeps_last_checkpoint(tmp_path):
    from gankit.train.trainer import Trainer

    trainer = Trainer(cfg_for("gan"), tmp_path / "run")
    _poison(trainer, at_step=5)
    with pytest.raises(TrainingError, match=r"non-finite loss at step 5 in phase G.*"
                                            r"last good checkpoint is .*ckpt-000004"):
        trainer.run()
    assert latest(tmp_path / "run")["step"] == 4
    events = (tmp_path / "run" / "stats.jsonl").read_text()
    assert '"event": "nonfinite"' in events
    assert "non-finite" in (tmp_path / "run" / "report.html").read_text()


def test_deferred_nan_check_names_the_step(tmp_path):
    """The CUDA path (no host sync per step) reports the step the NaN appeared, not a later one."""
    from gankit.train.trainer import Trainer

    trainer = Trainer(cfg_for("gan"), tmp_path / "run")
    trainer.sync_checks = False
    _poison(trainer, at_step=5, phase="D")
    with pytest.raises(TrainingError, match=r"non-finite loss or gradient at step 5 in phase D"):
        trainer.run()
    assert latest(tmp_path / "run")["step"] == 4  # nothing written after the bad step


def test_nan_rollback_lowers_lr_and_finishes(tmp_path):
    from gankit.train.trainer import Trainer

    trainer = Trainer(cfg_for("gan", nan_policy="rollback"), tmp_path / "run")
    hits = _poison(trainer, at_step=5)
    trainer.run()
    state = latest(tmp_path / "run")
    assert hits == [1] and state["step"] == 8 and state["lr_scale"] == 0.5
