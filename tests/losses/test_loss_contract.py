"""Every registered loss, and each regularizer, trains the `gan` and `dcgan` models via the
real trainer for a few steps (the loss half of the contract test)."""
import pytest
import torch

from gankit.config import config_from_dict
from gankit.registry import LOSSES
from gankit.train.trainer import Trainer

TINY = {"gan": {"g_hidden": [32], "d_hidden": [32], "z_dim": 8},
        "dcgan": {"ngf": 8, "ndf": 8, "z_dim": 8}}


def _trainer(tmp_path, model, steps=2, **over):
    raw = {"model": {"name": model, **TINY[model], **over},
           "data": {"dataset": "synthetic:64", "resolution": 32, "channels": 1},
           "train": {"steps": steps, "batch_size": 8, "log_every": 1, "sample_every": 0,
                     "checkpoint_every": 0, "grid_size": 4, "progress": False, "threads": 1}}
    return Trainer(config_from_dict(raw), tmp_path / "run")


def _step_changes_params(trainer):
    before = {k: [p.detach().clone() for p in v.parameters()] for k, v in
              trainer.model.nets.items()}
    window = {}
    trainer._train_step(window, want_norms=True)
    for key, (total, _) in window.items():
        assert torch.isfinite(total).all(), key
    for net in ("G", "D"):
        after = list(trainer.model.nets[net].parameters())
        assert any(not torch.equal(a, b) for a, b in zip(after, before[net])), net
    return window


@pytest.mark.parametrize("model", ["gan", "dcgan"])
@pytest.mark.parametrize("loss", LOSSES.names())
def test_every_loss_trains(tmp_path, model, loss):
    _step_changes_params(_trainer(tmp_path, model, loss=loss))


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_wgan_gp(tmp_path, model):
    t = _trainer(tmp_path, model, loss="wasserstein", penalty="gp")
    assert t.model.double_backward
    window = _step_changes_params(t)
    assert window["gp"][0].item() >= 0


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_wgan_clip_uses_rmsprop_and_clips(tmp_path, model):
    t = _trainer(tmp_path, model, loss="wasserstein", clip=0.01)
    assert all(isinstance(o, torch.optim.RMSprop) for o in t.optimizers.values())
    assert not t.model.double_backward
    _step_changes_params(t)
    assert max(p.abs().max().item() for p in t.model.nets["D"].parameters()) <= 0.01 + 1e-9


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_r1_and_spectral_norm(tmp_path, model):
    t = _trainer(tmp_path, model, loss="hinge", penalty="r1", spectral_norm=True)
    from gankit.losses.penalties import has_spectral_norm

    assert has_spectral_norm(t.model.nets["D"]) and t.model.double_backward
    assert "r1" in _step_changes_params(t)


def test_ada_probability_survives_resume(tmp_path):
    t = _trainer(tmp_path, "dcgan", steps=8, loss="hinge", augment="color,translation,cutout",
                 ada_target=0.01, ada_speed=64)
    t.run()
    p = t.model.augment.p
    assert p > 0  # D is sure of the reals at the start: the strength went up
    cfg = t.cfg
    cfg.train.steps = 9
    resumed = Trainer(cfg, tmp_path / "run", resume="auto")
    assert resumed.model.augment.p == p


def test_augment_rejected_for_points(tmp_path):
    from gankit.errors import ConfigError

    raw = {"model": {"name": "gan", **TINY["gan"], "augment": "color"},
           "data": {"dataset": "ring8"}, "train": {"steps": 1, "progress": False}}
    with pytest.raises(ConfigError, match="images"):
        Trainer(config_from_dict(raw), tmp_path / "run")


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_pacgan_packing(tmp_path, model):
    t = _trainer(tmp_path, model, pack=4, loss="wasserstein", penalty="gp")
    window = _step_changes_params(t)
    assert window["gp"][0].item() >= 0
    # D judges 8 / 4 = 2 packed examples per batch
    batch = next(t.loader)
    packed = t.model._pack(batch["real"])
    assert packed.shape[0] == 2 and packed.shape[1] == 4 * batch["real"].shape[1]
    assert t.model.nets["D"](packed).shape == (2,)
    from gankit.errors import ConfigError

    with pytest.raises(ConfigError, match="divisible"):
        t.model._pack(batch["real"][:6])
