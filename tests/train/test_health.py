"""Training-health monitor: each failure mode is recognised, healthy runs stay quiet."""
import json
import logging
from types import SimpleNamespace

import pytest
import torch

from gankit.config import HealthConfig, TrainConfig, config_from_dict
from gankit.train.health import HealthMonitor, diversity, oscillation_score
from gankit.train.trainer import train


def fake_trainer(tmp_path, **train_kw):
    health = HealthConfig(**{k[len("health_"):]: v for k, v in train_kw.items()
                             if k.startswith("health_")})
    t = TrainConfig(**{k: v for k, v in train_kw.items() if not k.startswith("health_")})
    model = SimpleNamespace(name="dcgan", loss="bce")  # declares d_real/d_fake probabilities
    return SimpleNamespace(out=tmp_path, step=0, cfg=SimpleNamespace(train=t, health=health,
                                                                     model=model),
                           write_stats=lambda r: None)


def feed(mon, trainer, records):
    out = []
    for i, r in enumerate(records):
        trainer.step = (i + 1) * 10
        rec = {"step": trainer.step, **r}
        mon.on_log(trainer, rec)
        out.append(rec)
    return out


def kinds(records):
    return [w["kind"] for r in records for w in r.get("warnings", [])]


def test_d_wins_warns_once_per_cooldown(tmp_path, caplog):
    tr = fake_trainer(tmp_path, health_window=3, health_cooldown=10)
    mon = HealthMonitor(tr.cfg)
    healthy = [{"d_real": 0.7, "d_fake": 0.4, "grad_norm/G": 2.0}] * 4
    winning = [{"d_real": 0.99, "d_fake": 0.01, "grad_norm/G": 1e-5}] * 16
    with caplog.at_level(logging.WARNING, logger="gankit.health"):
        recs = feed(mon, tr, healthy + winning)
    assert kinds(recs[:4]) == []
    # fires when the window is full of bad records, then once more after the cooldown
    assert kinds(recs) == ["d_wins", "d_wins"]
    first = next(w for r in recs for w in r.get("warnings", []))
    assert first["step"] == 70 and "vanished" in first["message"] and "lr_d" in first["hint"]
    assert sum("[d_wins]" in m for m in caplog.messages) == 2


def test_d_collapsed_and_fooled(tmp_path):
    tr = fake_trainer(tmp_path, health_window=3)
    mon = HealthMonitor(tr.cfg)
    recs = feed(mon, tr, [{"d_real": 0.5, "d_fake": 0.5, "grad_norm/D": 1e-5}] * 3)
    assert kinds(recs) == ["d_collapsed"]
    mon = HealthMonitor(tr.cfg)
    recs = feed(mon, tr, [{"d_real": 0.6, "d_fake": 0.97, "grad_norm/D": 1.0}] * 3)
    assert kinds(recs) == ["d_collapsed"] and "fools" in recs[-1]["warnings"][0]["message"]
    # a D with healthy gradients near 0.5 is fine; a model that declares logits is not judged
    mon = HealthMonitor(tr.cfg)
    assert kinds(feed(mon, tr, [{"d_real": 0.5, "d_fake": 0.5, "grad_norm/D": 0.5}] * 5)) == []
    mon = HealthMonitor(SimpleNamespace(train=tr.cfg.train, model={"name": "stylegan"}))
    assert mon.d_output == "logit"
    assert kinds(feed(mon, tr, [{"d_real": 3.0, "d_fake": 0.0}] * 5)) == []


def test_oscillation(tmp_path):
    tr = fake_trainer(tmp_path, health_window=4)
    mon = HealthMonitor(tr.cfg)
    swing = [{"loss_d": 0.2 if i % 2 else 2.0, "loss_g": 1.0} for i in range(8)]
    assert kinds(feed(mon, tr, swing)) == ["oscillation"]
    mon = HealthMonitor(tr.cfg)
    g = torch.Generator().manual_seed(0)
    noisy = [{"loss_d": 1.0 + 0.05 * float(torch.randn(1, generator=g))} for _ in range(30)]
    assert kinds(feed(mon, tr, noisy)) == []
    assert oscillation_score([1, -1, 1, -1, 1, -1])[1] == 1.0


def test_nonfinite_event_is_surfaced(tmp_path, caplog):
    tr = fake_trainer(tmp_path, nan_policy="rollback")
    mon = HealthMonitor(tr.cfg)
    mon.on_start(tr)
    mon.on_event(tr, {"step": 7, "event": "nonfinite", "phase": "D", "what": "non-finite loss"})
    with caplog.at_level(logging.WARNING, logger="gankit.health"):
        recs = feed(mon, tr, [{"loss_d": 1.0}] * 2)
    assert kinds(recs) == ["nonfinite"]
    assert "step 7" in recs[0]["warnings"][0]["message"]
    assert any("[nonfinite]" in m for m in caplog.messages)


def test_diversity_measure():
    g = torch.Generator().manual_seed(0)
    reals = torch.rand(16, 1, 8, 8, generator=g) * 2 - 1
    ratio, dup = diversity(reals.clone(), reals)
    assert ratio == pytest.approx(1.0) and dup == 0.0
    same = reals[:1].repeat(16, 1, 1, 1) + 1e-3 * torch.randn(16, 1, 8, 8, generator=g)
    ratio, dup = diversity(same, reals)
    assert ratio < 0.01 and dup == 1.0


def tiny_cfg(lr_d, steps, **model):
    return config_from_dict({
        "model": {"name": "gan", "g_hidden": [64, 128], "d_hidden": [128, 64], "z_dim": 16,
                  **model},
        "data": {"dataset": "synthetic:256", "resolution": 12},
        "train": {"steps": steps, "batch_size": 32, "lr_d": lr_d, "lr_g": 2e-4,
                  "log_every": 10, "sample_every": 50, "checkpoint_every": 0,
                  "progress": False, "threads": 1, "grid_size": 16}})


def d_outputs(run):
    recs = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    return [(r["d_real"], r["d_fake"]) for r in recs if "d_fake" in r], recs


@pytest.mark.parametrize("smoothing", [1.0, 0.9])
def test_broken_config_triggers_d_wins(tmp_path, caplog, smoothing):
    # D learning rate 100x G's: D separates real from fake outright within ~50 steps; with
    # one-sided label smoothing (the mnist-gan preset's 0.9) D(x) stays under 0.9
    with caplog.at_level(logging.WARNING, logger="gankit"):
        run = train(tiny_cfg(2e-2, 150, label_smoothing=smoothing), tmp_path / "broken")
    console = [m for m in caplog.messages if "[d_wins]" in m]
    assert console, "no d_wins warning on the console"
    assert "health warning at step" in console[0] and "lr_d" in console[0]
    outs, recs = d_outputs(run)
    assert any(w["kind"] == "d_wins" for r in recs for w in r.get("warnings", []))
    report = (run / "report.html").read_text()
    assert "d_wins" in report and "the discriminator wins" in report


def test_healthy_run_stays_quiet(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="gankit"):
        run = train(tiny_cfg(2e-4, 150, label_smoothing=0.9), tmp_path / "healthy")
    outs, recs = d_outputs(run)
    # the monitor had D outputs to judge (so silence is a verdict, not a missing input) ...
    assert len(outs) == 15 and all(0 < f < 1 for _, f in outs)
    # ... and the same window average that the broken run crossed stays far from the line
    assert min(f for _, f in outs[-5:]) > 0.2
    assert not [m for m in caplog.messages if "health warning" in m]
    assert not any(r.get("warnings") for r in recs)
    assert "No health warnings" in (run / "report.html").read_text()
    assert any("health/diversity" in r for r in recs)


def test_mode_collapse_from_sample_grids(tmp_path, caplog):
    g = torch.Generator().manual_seed(0)
    reals = torch.rand(16, 1, 8, 8, generator=g) * 2 - 1
    lines = []
    model = SimpleNamespace(latent_dim=4, capabilities=frozenset({"sample"}),
                            info=SimpleNamespace(kind="image", resolution=8, channels=1))
    tr = SimpleNamespace(out=tmp_path, step=0, cfg=SimpleNamespace(train=TrainConfig()),
                         model=model, fixed_z=torch.zeros(16, 4), fixed_batch={"real": reals},
                         write_stats=lines.append)
    mon = HealthMonitor(tr.cfg)
    varied = reals[torch.randperm(16, generator=g)]
    collapsed = reals[:1].repeat(16, 1, 1, 1)
    with caplog.at_level(logging.WARNING, logger="gankit.health"):
        for step, images in ((100, varied), (200, collapsed)):
            tr.step, tr.last_sample = step, images  # the grid's images, from the trainer
            mon.on_sample(tr, tmp_path / "no-such-file.png")  # the file is never read
    assert [ln["step"] for ln in lines] == [100, 200]
    assert lines[0]["health/diversity"] == pytest.approx(1.0, abs=0.01)
    assert "warnings" not in lines[0]
    assert lines[1]["health/diversity"] < 0.01 and lines[1]["health/duplicates"] == 1.0
    (w,) = lines[1]["warnings"]
    assert w["kind"] == "mode_collapse" and w["step"] == 200 and "down from 1.00" in w["message"]
    assert any("[mode_collapse]" in m for m in caplog.messages)


def test_d_wins_from_bce_generator_loss(tmp_path):
    # an unstable D that rejects most fakes with certainty but accepts a few: the mean of
    # D(G(z)) stays at 0.4, the non-saturating G loss -E log D(G(z)) shows the rejection
    cfg = SimpleNamespace(train=TrainConfig(), health=HealthConfig(window=3),
                          model=SimpleNamespace(name="dcgan", loss="bce"))
    tr = fake_trainer(tmp_path)
    recs = feed(HealthMonitor(cfg), tr, [{"d_real": 0.87, "d_fake": 0.4, "loss_g": 9.0}] * 3)
    assert kinds(recs) == ["d_wins"] and "geometric mean 0.00012" in \
        recs[-1]["warnings"][0]["message"]
    # other losses' G loss is no log-probability: no conclusion from it
    cfg.model.loss = "hinge"
    assert kinds(feed(HealthMonitor(cfg), tr, [{"d_real": 0.87, "d_fake": 0.4,
                                                 "loss_g": 9.0}] * 3)) == []


@pytest.mark.slow
def test_broken_mnist_preset_triggers_d_wins(tmp_path, caplog, data_root):
    """The mnist-gan preset on real MNIST with lr_d = 100 x lr_g and without the preset's R1
    and batch-norm G, which keep D from running away (about 15 s on one core)."""
    from gankit.config import load_config

    cfg = load_config("mnist-gan", [f"data.root={data_root}", "train.lr_d=2e-2",
                                    "model.penalty=none", "model.g_norm=none",
                                    "train.lr_g=2e-4", "train.steps=300", "train.log_every=10",
                                    "train.sample_every=100", "train.checkpoint_every=0",
                                    "train.progress=false", "train.threads=1"])
    with caplog.at_level(logging.WARNING, logger="gankit"):
        run = train(cfg, tmp_path / "broken")
    assert any("[d_wins]" in m for m in caplog.messages)
    assert "d_wins" in (run / "report.html").read_text()


class Poison:
    """Sets G's weights to NaN once, after the log of step ``at`` (a stand-in for a blow-up)."""

    def __init__(self, at):
        self.at, self.done = at, False

    def on_start(self, trainer):
        pass

    def on_log(self, trainer, record):
        if trainer.step == self.at and not self.done:
            self.done = True
            with torch.no_grad():
                for p in trainer.model.nets["G"].parameters():
                    p.fill_(float("nan"))

    def on_sample(self, trainer, path):
        pass

    def on_checkpoint(self, trainer, path):
        pass

    def on_end(self, trainer):
        pass


def test_nonfinite_rollback_in_console_stats_and_report(tmp_path, caplog):
    cfg = config_from_dict({
        "model": {"name": "gan", "g_hidden": [16], "d_hidden": [16], "z_dim": 4},
        "data": {"dataset": "synthetic:32", "resolution": 8},
        "train": {"steps": 12, "batch_size": 8, "log_every": 1, "sample_every": 0,
                  "checkpoint_every": 4, "progress": False, "threads": 1, "grid_size": 4,
                  "nan_policy": "rollback"}})
    with caplog.at_level(logging.WARNING, logger="gankit"):
        # the default health monitor and report come with the given callback
        run = train(cfg, tmp_path / "run", callbacks=[Poison(at=5)])
    assert any("[nonfinite]" in m and "rolled back" in m for m in caplog.messages)
    recs = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    events = [r for r in recs if r.get("event") == "nonfinite"]
    warned = [w for r in recs for w in r.get("warnings", []) if w["kind"] == "nonfinite"]
    assert len(events) == 1 and len(warned) == 1
    assert f"at step {events[0]['step']}" in warned[0]["message"]
    assert warned[0]["step"] == events[0]["step"]
    page = (run / "report.html").read_text()
    # one row for the event: the monitor's warning, not a second row from the raw event
    assert page.count("<td class=kind>nonfinite</td>") == 1 and "rolled back" in page


def test_d_checks_only_for_models_that_declare_probabilities(tmp_path):
    bad = [{"d_real": 0.99, "d_fake": 0.01}] * 5
    tr = fake_trainer(tmp_path)
    for loss, expect in (("bce", ["d_wins"]), ("lsgan", ["d_wins"]), ("hinge", []),
                         ("wasserstein", []), (None, [])):
        model = (SimpleNamespace(name="dcgan", loss=loss) if loss
                 else SimpleNamespace(name="progan"))  # logs no D outputs
        cfg = SimpleNamespace(train=TrainConfig(), model=model)
        assert kinds(feed(HealthMonitor(cfg), tr, bad)) == expect, loss


def test_state_survives_a_checkpoint(tmp_path):
    """A resumed monitor keeps its windows: it warns at the step the uninterrupted one does."""
    tr = fake_trainer(tmp_path, health_window=3, health_cooldown=10)
    winning = [{"d_real": 0.99, "d_fake": 0.01, "grad_norm/G": 1e-5}] * 6
    whole = kinds(feed(HealthMonitor(tr.cfg), tr, winning))
    first = HealthMonitor(tr.cfg)
    feed(first, tr, winning[:2])
    saved = torch.load(_roundtrip(first.state_dict(), tmp_path), weights_only=True)
    resumed = HealthMonitor(tr.cfg)
    resumed.load_state_dict(saved)
    rest = feed(resumed, tr, winning[2:])
    assert whole == ["d_wins"] and kinds(rest) == ["d_wins"]
    assert rest[0].get("warnings")  # the window was already 2/3 full
    fresh = HealthMonitor(tr.cfg)
    assert kinds(feed(fresh, tr, winning[2:3])) == []


def _roundtrip(state, tmp_path):
    path = tmp_path / "state.pt"
    torch.save(state, path)
    return path


def test_resumed_run_keeps_the_monitors_state(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from states import Crash, latest

    cfg = config_from_dict({
        "model": {"name": "gan", "g_hidden": [16], "d_hidden": [16], "z_dim": 4},
        "data": {"dataset": "synthetic:32", "resolution": 8},
        "train": {"steps": 6, "batch_size": 8, "log_every": 1, "sample_every": 3,
                  "checkpoint_every": 3, "progress": False, "threads": 1, "grid_size": 4,
                  "report": False}, "health": {"window": 4}})
    train(cfg, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", callbacks=[Crash(3)])
    half = latest(tmp_path / "cut")["callbacks"]["HealthMonitor"]
    assert half["n_records"] == 3 and len(half["records"]) == 3
    train(cfg, tmp_path / "cut", resume="auto")
    a = latest(tmp_path / "full")["callbacks"]["HealthMonitor"]
    b = latest(tmp_path / "cut")["callbacks"]["HealthMonitor"]
    assert a["n_records"] == b["n_records"] == 6
    strip = lambda recs: [{k: v for k, v in r.items() if k not in ("img_per_s", "cpu_s")}
                          for r in recs]
    assert strip(a["records"]) == strip(b["records"])
    assert a["best_diversity"] == b["best_diversity"] > 0


def test_old_health_keys_name_the_new_ones():
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"train.health_window is now health.window"):
        config_from_dict({"model": {"name": "gan"}, "train": {"health_window": 3}})
    # a config saved by an older gankit (checkpoints, exports) is moved over
    cfg = config_from_dict({"model": {"name": "gan"}, "train": {"health_window": 3}},
                           saved=True)
    assert cfg.health.window == 3 and cfg.train.health
