"""StyleGAN: shapes, truncation, style mixing, noise modes, w_avg tracking, R1, resume."""
from __future__ import annotations

import copy

import pytest
import torch

from gankit.config import TrainConfig
from gankit.data.base import DataInfo, NoiseSource
from gankit.errors import ConfigError
from gankit.models.stylegan import StyleGAN, StyleGANConfig
from states import assert_states_equal, latest



def make(res=16, channels=3, **kw):
    torch.manual_seed(0)
    model = StyleGAN(StyleGANConfig(**{**StyleGAN.contract_overrides, **kw}),
                     DataInfo("image", channels, res))
    model.noise = NoiseSource(5)
    return model


def randomize(model):
    """Give untrained zero-init parameters (noise scales) and w_avg non-trivial values."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for layer in model.nets["G"].layers:
            layer.noise.weight.copy_(torch.rand(layer.noise.weight.shape, generator=g) + 0.5)
        model.nets["G"].w_avg.copy_(torch.randn(model.nets["G"].w_dim, generator=g))


def optimizers(model, train):
    """One optimizer per group (lazy Dreg shares D's), as the trainer builds them."""
    return {p.group: model.make_optimizer(
        p, [q for n in p.nets for q in model.nets[n].parameters()], train)
        for p in model.phases(train) if p.group == p.name}


def run(model, steps, bs=8, start=0, opts=None):
    train = TrainConfig(lr_g=1e-3, lr_d=1e-3)
    phases = model.phases(train)
    if opts is None:
        opts = optimizers(model, train)
    logs = []
    for step in range(start, start + steps):
        model.on_step_start(step, step * bs)
        g = torch.Generator().manual_seed(step)
        batch = {"real": torch.rand(bs, model.info.channels, model.info.resolution,
                                    model.info.resolution, generator=g) * 2 - 1}
        for p in phases:
            if not p.due(step):
                continue
            for name, net in model.nets.items():
                net.requires_grad_(name in p.nets)
            loss, log = model.loss(p.name, batch, model.nets)
            assert torch.isfinite(loss)
            opts[p.group].zero_grad(set_to_none=True)
            loss.backward()
            opts[p.group].step()
            logs.append({k: float(v) for k, v in log.items()})
    return logs, opts


def test_shapes_and_style_inputs():
    m = make(16)
    assert m.num_ws == 6 and m.layer_res == [4, 4, 8, 8, 16, 16]
    z = torch.randn(4, m.cfg.z_dim)
    assert m.generate(z).shape == (4, 3, 16, 16)
    assert m.nets["D"](m.generate(z)).shape == (4,)
    m28 = make(28, channels=1)
    assert m28.generate(torch.randn(2, m28.cfg.z_dim)).shape == (2, 1, 28, 28)
    assert m.capabilities >= {"sample", "truncate", "mix"}
    # 8 FC layers by default
    full = StyleGAN(StyleGANConfig(fmap_max=8, fmap_base=64), DataInfo("image", 3, 8))
    from gankit.nn.equalized import EqualLinear
    assert sum(isinstance(l, EqualLinear) for l in full.nets["G"].mapping.modules()) == 8


def test_same_seed_same_image_and_psi_zero_gives_the_mean_face():
    m = make(16)
    randomize(m)
    z = m.make_latents([0, 1, 2, 3])
    a, b = m.generate(z), m.generate(m.make_latents([0, 1, 2, 3]))
    assert torch.equal(a, b)
    assert (a[0] - a[1]).abs().max() > 1e-3
    mean = m.generate(z, psi=0.0)
    for i in range(1, 4):
        assert torch.allclose(mean[i], mean[0], atol=1e-6)
    # ... and that image is the synthesis of w_avg itself
    G = m.nets["G"]
    ws = G.w_avg.view(1, 1, -1).expand(1, m.num_ws, -1)
    x = None
    for i, layer in enumerate(G.layers):
        x = layer(x, ws[:, i], None, "const")
    assert torch.allclose(G.to_rgb(x)[0].clamp(-1, 1), mean[0], atol=1e-5)
    # psi = 0.5 lies between; truncation_cutoff limits it to the first layers
    half = m.generate(z, psi=0.5)
    assert not torch.allclose(half, a, atol=1e-4) and not torch.allclose(half, mean, atol=1e-4)
    cut = m.generate(z, psi=0.0, truncation_cutoff=2)
    assert (cut[0] - cut[1]).abs().max() > 1e-4


def test_style_mixing_between_seeds():
    m = make(16)
    randomize(m)
    z1, z2 = m.make_latents([1, 2]), m.make_latents([3, 4])
    # all layers from the second seed == the second seed's image
    assert torch.allclose(m.generate(z1, mix_z=z2, mix_layers=(0, m.num_ws)), m.generate(z2),
                          atol=1e-6)
    coarse = m.generate(z1, mix_z=z2, mix_layers=(2, m.num_ws))  # 4x4 styles from z1
    assert not torch.allclose(coarse, m.generate(z1), atol=1e-4)
    assert not torch.allclose(coarse, m.generate(z2), atol=1e-4)
    # the mixing grid: image (r, c) = row seed's coarse styles + column seed's fine styles
    grid = m.mix_grid(z1, z2, mix_layers=(2, m.num_ws))
    assert grid.shape == (4, 3, 16, 16)
    assert torch.allclose(grid[0 * 2 + 1], m.generate(z1[:1], mix_z=z2[1:], mix_layers=(2, 6)),
                          atol=1e-5)
    # seeds instead of latents (what `gankit sample --option mix_seeds=...` passes)
    assert torch.equal(m.generate(z1, mix_seeds=[3, 4], mix_layers=[2, 6]),
                       m.generate(z1, mix_z=z2, mix_layers=(2, 6)))
    assert torch.equal(m.generate(z1, mix_seeds=3, mix_layers=[2, 6])[1],
                       m.generate(z1, mix_seeds=[3, 3], mix_layers=[2, 6])[1])
    with pytest.raises(ConfigError, match="one per image"):
        m.generate(z1, mix_seeds=[1, 2, 3])
    with pytest.raises(ConfigError, match="mix_layers"):
        m.generate(z1, mix_z=z2, mix_layers=(3, 3))
    with pytest.raises(ConfigError, match="shape of z"):
        m.generate(z1, mix_z=z2[:1])


def test_noise_modes():
    m = make(16)
    randomize(m)
    z = m.make_latents([0, 1])
    const, off = m.generate(z, noise="const"), m.generate(z, noise="off")
    r1, r2 = m.generate(z, noise="random"), m.generate(z, noise="random")
    assert not torch.allclose(const, off, atol=1e-4)
    assert not torch.allclose(r1, r2, atol=1e-4)
    assert torch.equal(m.generate(z, noise=False), off)
    assert torch.equal(m.generate(z, noise=True), const)
    with pytest.raises(ConfigError, match="noise must be"):
        m.generate(z, noise="loud")
    with pytest.raises(ConfigError, match="sampling options"):
        m.generate(z, temperature=2)


def test_training_tracks_w_avg_and_updates_mapping_and_noise_scales():
    m = make(16)
    before = copy.deepcopy(m.nets.state_dict())
    logs, _ = run(m, 3)
    after = m.nets.state_dict()
    assert not torch.equal(after["G.w_avg"], before["G.w_avg"])
    for key in ("G.mapping.net.1.weight", "G.layers.0.const", "G.layers.3.noise.weight",
                "G.layers.5.adain.affine.weight", "D.out.weight"):
        assert not torch.equal(before[key], after[key]), key
    assert all("r1" in l for l in logs if "d_real" in l)


def test_lazy_r1_and_penalty_weight():
    m = make(16, r1_every=4, r1_gamma=2.0)
    assert [(p.name, p.interval, p.group) for p in m.phases(TrainConfig())] == [
        ("D", 1, "D"), ("Dreg", 4, "D"), ("G", 1, "G")]
    logs, _ = run(m, 5)
    # a Dreg phase (R1 alone) on steps 0 and 4, right after that step's D phase
    assert ["r1" in l for l in logs] == [False, True, False] + [False, False] * 3 + [
        False, True, False]
    assert all("r1" not in l for l in logs if "d_real" in l)
    # Dreg's loss is gamma/2 * r1_every * R1 (the model scales by the interval)
    m2 = make(16, r1_every=4, r1_gamma=2.0)
    batch = {"real": torch.rand(8, 3, 16, 16) * 2 - 1}
    loss, lg = m2.loss("Dreg", batch, m2.nets)
    assert torch.allclose(loss, 2.0 / 2 * 4 * lg["r1"])
    assert lg["r1"] > 0 and torch.isfinite(loss)
    # r1_every = 1: R1 is part of every D loss (no Dreg phase)
    m3 = make(16, r1_gamma=2.0)
    m4 = make(16, r1_gamma=0.0)  # same weights, same noise draws, no penalty
    assert [p.name for p in m3.phases(TrainConfig())] == ["D", "G"]
    loss3, lg3 = m3.loss("D", batch, m3.nets)
    loss4, lg4 = m4.loss("D", batch, m4.nets)
    assert "r1" not in lg4
    assert torch.allclose(loss3 - loss4, 2.0 / 2 * lg3["r1"], atol=1e-5)


def test_resume_continues_identically():
    m = make(16, r1_every=2)
    _, opts = run(m, 2)
    saved = copy.deepcopy({"nets": m.nets.state_dict(), "noise": m.noise.state_dict(),
                           "opts": {k: o.state_dict() for k, o in opts.items()},
                           "extra": m.extra_state()})
    ref_logs, _ = run(m, 3, start=2, opts=opts)
    ref = m.nets.state_dict()

    m2 = make(16, r1_every=2)
    m2.nets.load_state_dict(saved["nets"])
    m2.noise.load_state_dict(saved["noise"])
    m2.load_extra_state(saved["extra"])
    train = TrainConfig(lr_g=1e-3, lr_d=1e-3)
    opts2 = optimizers(m2, train)
    for k, o in opts2.items():
        o.load_state_dict(saved["opts"][k])
    logs, _ = run(m2, 3, start=2, opts=opts2)
    assert logs == ref_logs
    for k, v in m2.nets.state_dict().items():
        assert torch.equal(v, ref[k]), k


def test_trainer_resume_is_exact(tmp_path):
    from gankit.config import config_from_dict
    from gankit.train.callbacks import Callback
    from gankit.train.trainer import train

    class Crash(Callback):
        def on_checkpoint(self, trainer, path):
            if trainer.step == 2:
                raise KeyboardInterrupt

    cfg = config_from_dict({
        "model": {"name": "stylegan", **StyleGAN.contract_overrides, "r1_every": 2},
        "data": {"dataset": "synthetic:64", "resolution": 16},
        "train": {"steps": 4, "batch_size": 8, "log_every": 1, "sample_every": 0,
                  "checkpoint_every": 2, "progress": False, "threads": 1, "grid_size": 4,
                  "ema_decay": 0.9}})
    train(cfg, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", callbacks=[Crash()])
    train(cfg, tmp_path / "cut", resume="auto")
    a, b = latest(tmp_path / "full"), latest(tmp_path / "cut")
    assert a["optimizer_groups"] == {"D": ["D", "Dreg"], "G": ["G"]}
    assert_states_equal(a, b)


def test_cli_sample_psi_zero_and_mixing(tmp_path):
    """`gankit sample RUN --option psi=0` gives the same (mean) face for every seed."""
    import numpy as np

    from gankit.cli import main
    from gankit.config import config_from_dict
    from gankit.train.trainer import train

    cfg = config_from_dict({
        "model": {"name": "stylegan", **StyleGAN.contract_overrides},
        "data": {"dataset": "synthetic:64", "resolution": 16, "channels": 3},
        "train": {"steps": 3, "batch_size": 8, "sample_every": 0, "checkpoint_every": 0,
                  "progress": False, "threads": 1, "grid_size": 4}})
    run_dir = train(cfg, tmp_path / "run")
    assert main(["sample", str(run_dir), "--seeds", "0-5", "--option", "psi=0",
                 "--out", str(tmp_path / "mean.png"), "--npz", str(tmp_path / "mean.npz")]) == 0
    imgs = np.load(tmp_path / "mean.npz")["images"]
    assert imgs.shape == (6, 16, 16, 3)
    assert all(np.array_equal(imgs[0], imgs[i]) for i in range(6))
    assert main(["sample", str(run_dir), "--seeds", "0-5", "--npz", str(tmp_path / "a.npz"),
                 "--out", str(tmp_path / "a.png")]) == 0
    assert not np.array_equal(np.load(tmp_path / "a.npz")["images"][0],
                              np.load(tmp_path / "a.npz")["images"][1])
    assert main(["sample", str(run_dir), "--seeds", "0-5", "--option", "mix_seeds=9",
                 "--option", "mix_layers=[0,6]", "--npz", str(tmp_path / "m.npz"),
                 "--out", str(tmp_path / "m.png")]) == 0
    mixed = np.load(tmp_path / "m.npz")["images"]  # every style from seed 9
    assert all(np.array_equal(mixed[0], mixed[i]) for i in range(6))


def test_bilinear_upsampling_and_random_constant():
    """``upsample=bilinear`` filters G's 2x upsampling (no 2x2 blocks of copies for the 3x3
    convolution to turn into a grid); ``const_init=randn`` starts the 4x4 constant varied in
    space (with ones the first AdaIN sees a flat map); the defaults stay the paper's."""
    nearest, smooth = make(16), make(16, upsample="bilinear", const_init="randn")
    assert torch.equal(nearest.nets["G"].layers[0].const,
                       torch.ones_like(nearest.nets["G"].layers[0].const))
    assert smooth.nets["G"].layers[0].const.std(dim=(2, 3)).min() > 0.2
    x = torch.randn(2, 8, 4, 4)
    for model, blocky in ((nearest, True), (smooth, False)):
        layer = model.nets["G"].layers[2]
        assert layer.up
        y = layer.upsample(x)
        assert y.shape == (2, 8, 8, 8)
        # each 2x2 block of the output holds one input pixel four times, or not
        same = torch.equal(y[..., 0::2, 0::2], y[..., 1::2, 1::2])
        assert same == blocky
        assert torch.allclose(y.mean(dim=(2, 3)), x.mean(dim=(2, 3)), atol=0.2)
    # a flat map stays flat inside (the filter keeps the level; only the border is padded)
    flat = smooth.nets["G"].layers[2].upsample(torch.ones(1, 1, 4, 4))
    assert torch.allclose(flat[..., 1:-1, 1:-1], torch.ones(1, 1, 6, 6))
    z = torch.randn(3, smooth.cfg.z_dim)
    assert smooth.generate(z).shape == (3, 3, 16, 16)
    from gankit.config import load_config
    with pytest.raises(ConfigError, match="model.upsample"):
        load_config("faces-stylegan", ["model.upsample=bicubic"])


def test_noise_lr_mul_slows_the_noise_strengths():
    """The effective noise strengths (lr_mul * weight) move lr_mul times as far per Adam step
    (the first step of Adam is lr * sign(grad) whatever the gradient's size); 0 = no noise."""
    def strengths(model):
        return torch.cat([l.noise.weight * l.noise.lr_mul for l in model.nets["G"].layers])

    full, slow, off = make(16), make(16, noise_lr_mul=0.1), make(16, noise_lr_mul=0.0)
    for m in (full, slow, off):
        run(m, 1)
    a, b = strengths(full).detach(), strengths(slow).detach()
    moved = a.abs() > 1e-5
    assert moved.float().mean() > 0.5
    assert torch.allclose(b[moved] / a[moved], torch.full_like(a[moved], 0.1), rtol=0.05)
    run(off, 2)
    z = off.make_latents([0, 1])
    assert torch.equal(off.generate(z, noise="random"), off.generate(z, noise="off"))
    assert not torch.equal(full.generate(z, noise="random"), full.generate(z, noise="off"))
