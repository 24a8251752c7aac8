"""ProGAN: growth schedule, fade-in consistency, losses, and exact resume mid-fade."""
from __future__ import annotations

import copy

import pytest
import torch

from gankit.config import TrainConfig
from gankit.data.base import DataInfo, NoiseSource
from gankit.errors import ConfigError
from gankit.models.progan import ProGAN, ProGANConfig, internal_resolution
from gankit.nn.equalized import downsample2x, upsample2x
from states import assert_states_equal, latest



def make(res=16, channels=3, **kw):
    torch.manual_seed(0)
    cfg = ProGANConfig(**{**ProGAN.contract_overrides, **kw})
    model = ProGAN(cfg, DataInfo("image", channels, res))
    model.noise = NoiseSource(3)
    return model


def real_batch(step, n=8, channels=3, res=16):
    g = torch.Generator().manual_seed(1000 + step)
    return {"real": torch.rand(n, channels, res, res, generator=g) * 2 - 1}


class MiniLoop:
    """A stand-in for the trainer's step (phases, requires_grad, Adam), for unit tests."""

    def __init__(self, model, batch_size=8):
        self.model, self.bs = model, batch_size
        self.train = TrainConfig(lr_g=1e-3, lr_d=1e-3)
        self.phases = model.phases(self.train)
        self.opts = {p.name: model.make_optimizer(
            p, [q for n in p.nets for q in model.nets[n].parameters()], self.train)
            for p in self.phases}
        self.step = 0

    def run(self, steps):
        logs = []
        for _ in range(steps):
            self.model.on_step_start(self.step, self.step * self.bs)
            batch = real_batch(self.step, self.bs, self.model.info.channels,
                               self.model.info.resolution)
            for p in self.phases:
                for name, net in self.model.nets.items():
                    net.requires_grad_(name in p.nets)
                loss, log = self.model.loss(p.name, batch, self.model.nets)
                assert torch.isfinite(loss), (p.name, log)
                self.opts[p.name].zero_grad(set_to_none=True)
                loss.backward()
                self.opts[p.name].step()
                logs.append({k: float(v) for k, v in log.items()})
            self.step += 1
        return logs

    def state(self):
        return copy.deepcopy({"nets": self.model.nets.state_dict(),
                              "opts": {k: o.state_dict() for k, o in self.opts.items()},
                              "noise": self.model.noise.state_dict(),
                              "extra": self.model.extra_state(), "step": self.step})

    def load(self, st):
        self.model.nets.load_state_dict(st["nets"])
        for k, o in self.opts.items():
            o.load_state_dict(st["opts"][k])
        self.model.noise.load_state_dict(st["noise"])
        self.model.load_extra_state(st["extra"])
        self.step = st["step"]


def test_internal_resolution():
    assert [internal_resolution(r) for r in (4, 16, 28, 32, 64, 100)] == [4, 16, 32, 32, 64, 128]
    with pytest.raises(ConfigError):
        internal_resolution(2)


def test_growth_schedule():
    m = make(64, fade_images=100, stable_images=50)
    assert m.max_level == 4
    assert m.growth_at(0) == (0, 1.0)
    assert m.growth_at(49) == (0, 1.0)
    assert m.growth_at(50) == (1, 0.0)
    assert m.growth_at(100) == (1, 0.5)
    assert m.growth_at(150) == (1, 1.0)
    assert m.growth_at(199) == (1, 1.0)
    assert m.growth_at(200) == (2, 0.0)
    assert m.growth_at(50 + 3 * 150 + 25) == (4, 0.25)
    assert m.growth_at(10**9) == (4, 1.0)
    m.on_step_start(7, 100)
    assert (m.level, m.alpha, m.resolution) == (1, 0.5, 8)
    assert m.extra_state() == {"level": 1, "alpha": 0.5, "images_seen": 100, "resolution": 8}


def test_shapes_at_every_level_and_generate_at_data_resolution():
    m = make(16)
    G, D = m.nets["G"], m.nets["D"]
    z = torch.randn(4, m.cfg.z_dim)
    for level in range(m.max_level + 1):
        img = G(z, level, 0.5)
        assert img.shape == (4, 3, 4 * 2 ** level, 4 * 2 ** level)
        assert D(img, 0.5).shape == (4,)
        m._set_growth(level, 0.5)
        assert m.generate(z).shape == (4, 3, 16, 16)
    m28 = make(28, channels=1)
    assert m28.generate(torch.randn(2, m28.cfg.z_dim)).shape == (2, 1, 28, 28)
    with pytest.raises(ConfigError, match="takes no generation options, got psi"):
        m.generate(z, psi=0.5)


def test_fade_in_starts_from_previous_resolution():
    """At alpha = 0 the grown networks compute exactly what the smaller ones did."""
    m = make(16)
    G, D = m.nets["G"], m.nets["D"]
    z = torch.randn(4, m.cfg.z_dim)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(G(z, 2, 0.0), upsample2x(G(z, 1, 1.0)), atol=1e-6)
        assert torch.allclose(D(x, 0.0), D(downsample2x(x), 1.0), atol=1e-5)
        assert not torch.allclose(G(z, 2, 0.5), upsample2x(G(z, 1, 1.0)), atol=1e-3)
    # reals are blended the same way
    real = torch.randn(4, 3, 16, 16)
    m._set_growth(2, 0.0)
    assert torch.allclose(m.reals_now(real), upsample2x(downsample2x(real)))
    m._set_growth(1, 1.0)
    assert torch.allclose(m.reals_now(real), torch.nn.functional.avg_pool2d(real, 2))
    m._set_growth(1, 0.25)
    lo = upsample2x(torch.nn.functional.avg_pool2d(real, 4))
    assert torch.allclose(m.reals_now(real), lo + 0.25 * (torch.nn.functional.avg_pool2d(real, 2)
                                                          - lo), atol=1e-6)


def test_training_grows_and_updates_the_active_layers():
    m = make(16)  # contract sizes: stable 4, fade 8 images -> 16x16 after 28 images
    loop = MiniLoop(m)
    before = copy.deepcopy(m.nets.state_dict())
    logs = loop.run(5)
    assert m.level == 2 and m.alpha == 1.0
    d_logs = [l for l in logs if "wdist" in l]
    assert [l["resolution"] for l in d_logs] == [4.0, 8.0, 16.0, 16.0, 16.0]
    after = m.nets.state_dict()
    for key in ("G.input.weight", "G.blocks.1.conv2.weight", "G.to_rgb.2.conv.weight",
                "D.from_rgb.2.conv.weight", "D.blocks.0.conv1.weight", "D.out.weight"):
        assert not torch.equal(before[key], after[key]), key
    assert torch.equal(after["G.growth"], torch.tensor([2.0, 1.0]))


def test_gradient_penalty_term_and_drift_are_active():
    m = make(16, gp_weight=10.0)
    loop = MiniLoop(m)
    log = loop.run(1)[0]
    assert log["gp"] > 0 and log["drift"] >= 0
    # the D loss is -wdist + 10 gp + 0.001 drift
    m2 = make(16)
    m2.on_step_start(0, 0)
    loss, lg = m2.loss("D", real_batch(0), m2.nets)
    assert torch.allclose(loss, -lg["wdist"] + 10 * lg["gp"] + 0.001 * lg["drift"], atol=1e-6)


def test_resume_mid_fade_continues_identically():
    ref = MiniLoop(make(16, fade_images=32, stable_images=8))
    ref.run(3)  # 16 images seen: level 1, alpha 0.25 -> mid-fade
    assert (ref.model.level, ref.model.alpha) == (1, 0.25)
    saved = ref.state()
    ref_logs = ref.run(4)
    ref_weights = ref.model.nets.state_dict()

    torch.manual_seed(123)  # a different init, overwritten by the checkpoint
    resumed = MiniLoop(make(16, fade_images=32, stable_images=8))
    resumed.model.noise = NoiseSource(999)
    resumed.load(saved)
    assert (resumed.model.level, resumed.model.alpha) == (1, 0.25)
    logs = resumed.run(4)
    assert logs == ref_logs
    for k, v in resumed.model.nets.state_dict().items():
        assert torch.equal(v, ref_weights[k]), k


def test_adam_betas_from_paper_and_validation():
    m = make(16)
    loop = MiniLoop(m)
    assert loop.opts["D"].param_groups[0]["betas"] == (0.0, 0.99)
    m2 = make(16, adam_betas=[])
    assert MiniLoop(m2).opts["G"].param_groups[0]["betas"] == (0.5, 0.999)
    with pytest.raises(ConfigError):
        make(16, adam_betas=[0.1])


def test_trainer_resume_mid_fade_is_exact(tmp_path):
    """With the real trainer: crash right after a checkpoint taken mid-fade, resume, and end
    with the same weights, EMA, optimizer state and growth state as an uninterrupted run."""
    from gankit.config import config_from_dict
    from gankit.train.callbacks import Callback
    from gankit.train.trainer import train

    class Crash(Callback):
        def on_checkpoint(self, trainer, path):
            if trainer.step == 3:
                raise KeyboardInterrupt

    cfg = config_from_dict({
        "model": {"name": "progan", **ProGAN.contract_overrides, "fade_images": 32,
                  "stable_images": 8},
        "data": {"dataset": "synthetic:64", "resolution": 16, "flip": True},
        "train": {"steps": 7, "batch_size": 8, "log_every": 1, "sample_every": 0,
                  "checkpoint_every": 3, "progress": False, "threads": 1, "grid_size": 4,
                  "ema_decay": 0.9}})
    train(cfg, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", callbacks=[Crash()])
    mid = latest(tmp_path / "cut")
    assert mid["step"] == 3 and mid["model_extra"]["level"] == 1
    assert 0 < mid["model_extra"]["alpha"] < 1  # the checkpoint is mid-fade
    train(cfg, tmp_path / "cut", resume="auto")
    a, b = latest(tmp_path / "full"), latest(tmp_path / "cut")
    assert a["step"] == b["step"] == 7
    assert a["model_extra"] == b["model_extra"]
    assert a["model_extra"]["level"] == 2  # it kept growing after the resume
    assert_states_equal(a, b)
