"""Phase intervals and shared optimizer groups (lazy regularisation as in stylegan2-ada)."""
import pytest
import torch

from gankit.config import config_from_dict
from gankit.errors import CheckpointError
from gankit.models.base import Phase, lazy_ratio
from gankit.models.gan import GAN
from gankit.train import trainer as trainer_mod
from gankit.runfiles.checkpoint import load_checkpoint
from gankit.train.trainer import Trainer


class LazyGAN(GAN):
    """A GAN with stylegan2-ada's four phases; every loss call is recorded."""

    def phases(self, train):
        return [Phase("D", ("D",)), Phase("Dreg", ("D",), interval=4, optimizer="D"),
                Phase("G", ("G",)), Phase("Greg", ("G",), interval=4, optimizer="G")]

    def on_step_start(self, step, images_seen):
        super().on_step_start(step, images_seen)
        self.step_now = step

    def loss(self, phase, batch, nets):
        self.calls.append((self.step_now, phase))
        real = batch["real"]
        z = self.noise.randn(real.shape[0], self.latent_dim)
        if phase.startswith("D"):
            out = nets["D"](real if phase == "Dreg" else nets["G"](z).detach())
        else:
            out = -nets["D"](nets["G"](z))
        loss = out.mean() * (4 if phase.endswith("reg") else 1)  # the model scales by k
        return loss, {f"loss_{phase.lower()}": loss.detach()}


def _config(steps=6, **train):
    return config_from_dict({
        "model": {"name": "gan", "z_dim": 2, "g_hidden": [8], "d_hidden": [8], "d_dropout": 0},
        "data": {"dataset": "ring8"},
        "train": {"steps": steps, "batch_size": 8, "log_every": 1, "sample_every": 0,
                  "checkpoint_every": 0, "progress": False, "threads": 1, "lr_d": 2e-3,
                  "lr_g": 1e-3, "beta1": 0.5, "beta2": 0.99, **train}})


@pytest.fixture
def lazy(monkeypatch):
    def build(cfg, info):
        model = LazyGAN(cfg, info)
        model.calls = []
        return model

    monkeypatch.setattr(trainer_mod, "build_model", build)


def test_lazy_phases_run_at_their_interval_with_two_corrected_optimizers(lazy, tmp_path):
    trainer = Trainer(_config(steps=6), tmp_path / "run", default_callbacks=False)
    assert set(trainer.optimizers) == {"D", "G"}  # four phases, two optimizers
    ratio = 4 / 5
    d, g = trainer.optimizers["D"].param_groups[0], trainer.optimizers["G"].param_groups[0]
    assert d["lr"] == pytest.approx(2e-3 * ratio) and g["lr"] == pytest.approx(1e-3 * ratio)
    assert d["betas"] == pytest.approx((0.5 ** ratio, 0.99 ** ratio))
    assert g["betas"] == pytest.approx((0.5 ** ratio, 0.99 ** ratio))
    # the shared optimizer holds D's parameters once, not once per phase
    n_d = sum(1 for _ in trainer.model.nets["D"].parameters())
    assert sum(len(pg["params"]) for pg in trainer.optimizers["D"].param_groups) == n_d
    trainer.run()
    ran = trainer.model.calls
    assert [p for s, p in ran if s == 0] == ["D", "Dreg", "G", "Greg"]
    assert [p for s, p in ran if s in (1, 2, 3, 5)] == ["D", "G"] * 4
    assert [p for s, p in ran if s == 4] == ["D", "Dreg", "G", "Greg"]
    # Adam's step count: one update per phase run (6 main + 2 lazy)
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert state["optimizer_groups"] == {"D": ["D", "Dreg"], "G": ["G", "Greg"]}
    steps = {int(v["step"]) for v in state["optimizers"]["D"]["state"].values()}
    assert steps == {8}
    # uniform loss names for every phase that ran in the logged window
    stats = (tmp_path / "run" / "stats.jsonl").read_text().splitlines()
    assert '"loss_dreg"' in stats[0] and '"loss_dreg"' not in stats[1]
    # a lazy phase's gradient norm is logged for the windows it ran in, log step or not
    t2 = Trainer(_config(steps=4, log_every=2), tmp_path / "every2", default_callbacks=False)
    t2.run()
    import json

    recs = [json.loads(x) for x in (tmp_path / "every2" / "stats.jsonl").read_text().splitlines()]
    assert ["grad_norm/Dreg" in r for r in recs] == [True, False]  # ran on step 0 only
    assert all("grad_norm/D" in r for r in recs)


def test_lazy_run_resumes_exactly(lazy, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from states import assert_states_equal, latest

    Trainer(_config(steps=6), tmp_path / "full", default_callbacks=False).run()
    Trainer(_config(steps=3), tmp_path / "half", default_callbacks=False).run()
    Trainer(_config(steps=6), tmp_path / "half", resume="auto", default_callbacks=False).run()
    assert_states_equal(latest(tmp_path / "full"), latest(tmp_path / "half"))


def test_checkpoint_with_per_phase_optimizers_is_refused_clearly(lazy, tmp_path):
    Trainer(_config(steps=2), tmp_path / "run", default_callbacks=False).run()
    path = tmp_path / "run" / "checkpoints" / "latest.pt"
    state = load_checkpoint(path)
    del state["optimizer_groups"]  # as written before optimizer groups existed
    torch.save(state, tmp_path / "old.pt")
    with pytest.raises(CheckpointError, match="optimizer 'D' stepped phase"):
        Trainer(_config(steps=4), tmp_path / "again", resume=tmp_path / "old.pt",
                default_callbacks=False)


def test_old_checkpoint_with_one_optimizer_per_phase_still_loads(tmp_path):
    Trainer(_config(steps=2), tmp_path / "run", default_callbacks=False).run()
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert state["optimizer_groups"] == {"D": ["D"], "G": ["G"]}
    del state["optimizer_groups"]
    torch.save(state, tmp_path / "old.pt")
    t = Trainer(_config(steps=3), tmp_path / "again", resume=tmp_path / "old.pt",
                default_callbacks=False)
    assert t.step == 2
    assert t.optimizers["D"].state_dict()["state"][0]["step"] == 2


def test_log_names():
    from gankit.models.base import log_names

    phases = [Phase("Gmain", ("G",), optimizer="G"),
              Phase("Greg", ("G",), interval=4, optimizer="G"),
              Phase("Dmain", ("D",), optimizer="D"),
              Phase("Dreg", ("D",), interval=16, optimizer="D")]
    assert log_names(phases) == {"Gmain": "G", "Greg": "Greg", "Dmain": "D", "Dreg": "Dreg"}
    assert log_names([Phase("D", ("D",)), Phase("G", ("G",))]) == {"D": "D", "G": "G"}
    two = [Phase("A", ("G",), optimizer="G"), Phase("B", ("G",), optimizer="G")]
    assert log_names(two) == {"A": "A", "B": "B"}


def test_lazy_ratio():
    D, Dreg = Phase("D", ("D",)), Phase("Dreg", ("D",), interval=16, optimizer="D")
    assert lazy_ratio([D]) == 1.0
    assert lazy_ratio([D, Dreg]) == pytest.approx(16 / 17)
    assert lazy_ratio([Dreg]) == 1.0  # alone, it is its own optimizer's every step
    with pytest.raises(ValueError, match="different intervals"):
        lazy_ratio([D, Dreg, Phase("Dx", ("D",), interval=4, optimizer="D")])
    with pytest.raises(ValueError, match="interval"):
        Phase("D", ("D",), interval=0)


def test_a_replacing_phase_runs_in_place_of_its_phase():
    from gankit.models.base import check_phases, due_phases, log_names

    D, G = Phase("D", ("D",), 2, keep=("G",)), Phase("G", ("G",))
    Dr1 = Phase("Dr1", ("D",), 2, keep=("G",), interval=3, optimizer="D", replaces="D")
    phases = [D, G, Dr1]
    check_phases(phases)
    run = [[ph.name for _, ph in due_phases(phases, s)] for s in range(7)]
    assert run == [["Dr1", "G"], ["D", "G"], ["D", "G"], ["Dr1", "G"], ["D", "G"],
                   ["D", "G"], ["Dr1", "G"]]
    assert due_phases(phases, 3)[0] == (2, Dr1)  # its own index (non-finite reports name it)
    assert log_names(phases) == {"D": "D", "G": "G", "Dr1": "D"}  # logs as loss_d
    assert lazy_ratio([D, Dr1]) == 1.0  # no extra update: no mb_ratio correction
    for bad in ([D, G, Phase("X", ("D",), interval=2, optimizer="D", replaces="Y")],
                [D, G, Phase("X", ("D",), interval=2, replaces="D")],  # another optimizer
                [D, G, Dr1, Phase("X", ("D",), interval=2, optimizer="D", replaces="D")]):
        with pytest.raises(ValueError, match="replace"):
            check_phases(bad)


def test_lazy_r1_of_the_adversarial_models_is_a_phase_on_ds_optimizer(tmp_path):
    import json

    cfg = _config(steps=4)
    cfg.model.penalty, cfg.model.r1_every = "r1", 2
    trainer = Trainer(cfg, tmp_path / "run", default_callbacks=False)
    assert [ph.name for ph in trainer.phases] == ["D", "G", "Dr1"]
    assert set(trainer.optimizers) == {"D", "G"}
    assert trainer.optimizers["D"].param_groups[0]["lr"] == 2e-3  # not corrected
    trainer.run()
    recs = [json.loads(x) for x in (tmp_path / "run" / "stats.jsonl").read_text().splitlines()]
    assert [("r1" in r, "loss_d" in r) for r in recs] == [(True, True), (False, True)] * 2
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert state["optimizer_groups"] == {"D": ["D"], "G": ["G"]}  # as before the phase
    assert {int(v["step"]) for v in state["optimizers"]["D"]["state"].values()} == {4}


def test_adam_eps_reaches_every_optimizer(tmp_path):
    """``train.adam_eps`` is the eps of both nets' Adam, through the default optimizer and
    the style models' own betas alike; its default is torch's 1e-8."""
    assert _config().train.adam_eps == 1e-8
    t = Trainer(_config(adam_eps=1e-4), tmp_path / "gan", default_callbacks=False)
    assert {pg["eps"] for o in t.optimizers.values() for pg in o.param_groups} == {1e-4}
    cfg = config_from_dict({
        "model": {"name": "stylegan2", "z_dim": 8, "w_dim": 8, "mapping_layers": 2,
                  "fmap_base": 64, "fmap_max": 8},
        "data": {"dataset": "synthetic:16", "resolution": 8, "channels": 1},
        "train": {"steps": 1, "batch_size": 4, "progress": False, "threads": 1,
                  "adam_eps": 1e-5}})
    t = Trainer(cfg, tmp_path / "sg2", default_callbacks=False)
    assert {pg["eps"] for o in t.optimizers.values() for pg in o.param_groups} == {1e-5}
