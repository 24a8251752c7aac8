"""StyleGAN2-ADA: shapes, demodulation, equalized lr, lazy phases with shared optimizers,
truncation to w_avg, ADA p in checkpoints, and the sampling tools on a tiny trained run."""
from __future__ import annotations

import json
import math

import pytest
import torch

from gankit.config import config_from_dict
from gankit.data.base import DataInfo, NoiseSource
from gankit.errors import ConfigError
from gankit.models.stylegan2 import StyleGAN2, StyleGAN2Config
from gankit.nn.stylegan2_layers import ModulatedConv2d
from gankit.sampling import load_generator
from gankit.runfiles.checkpoint import load_checkpoint
from gankit.train.trainer import Trainer

TINY = {**StyleGAN2.contract_overrides}


def make(res=16, channels=3, **kw):
    torch.manual_seed(0)
    model = StyleGAN2(StyleGAN2Config(**{**TINY, **kw}), DataInfo("image", channels, res))
    model.noise = NoiseSource(5)
    return model


def randomize(model):
    """Give the zero-initialised noise strengths and w_avg non-trivial values."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for layer in model.nets["G"].synthesis.convs:
            layer.noise_strength.fill_(float(torch.rand((), generator=g)) + 0.5)
        model.nets["G"].w_avg.copy_(torch.randn(model.nets["G"].w_dim, generator=g))


def tiny_config(steps, **model):
    return config_from_dict({
        "model": {"name": "stylegan2", **TINY, **model},
        "data": {"dataset": "synthetic:64", "resolution": 16, "channels": 1},
        "train": {"steps": steps, "batch_size": 8, "log_every": 1, "sample_every": 0,
                  "checkpoint_every": 0, "grid_size": 4, "progress": False, "threads": 1,
                  "report": False}})


def test_shapes_and_style_inputs():
    m = make(16)
    # 4x4 conv, then two convs per resolution; ToRGBs share the next conv's w: 2 log2(R) - 2
    assert m.num_ws == 6 and m.layer_res == [4, 8, 8, 16, 16]
    z = torch.randn(4, m.cfg.z_dim)
    assert m.generate(z).shape == (4, 3, 16, 16)
    assert m.nets["D"](m.generate(z)).shape == (4,)
    m28 = make(28, channels=1)  # not a power of two: trained at 32, resized on the way out
    assert m28.size == 32 and m28.generate(torch.randn(2, m28.cfg.z_dim)).shape == (2, 1, 28, 28)
    assert m.capabilities >= {"sample", "truncate", "mix"}
    full = StyleGAN2(StyleGAN2Config(fmap_max=8, fmap_base=64), DataInfo("image", 3, 8))
    from gankit.nn.equalized import EqualLinear
    assert sum(isinstance(l, EqualLinear) for l in full.nets["G"].mapping.modules()) == 8
    assert make(8, mapping_layers=2).nets["G"].mapping.net[1].lr_mul == 0.01
    with pytest.raises(ConfigError, match="at least 4x4"):
        make(2)


def test_demodulation_normalises_the_output_std():
    torch.manual_seed(1)
    x = torch.randn(64, 32, 12, 12)
    for style_scale in (0.1, 1.0, 10.0):
        conv = ModulatedConv2d(32, 24, 16, 3)
        with torch.no_grad():  # styles far from 1: demodulation must undo their magnitude
            conv.affine.bias.mul_(style_scale)
            conv.affine.weight.mul_(style_scale)
        w = torch.randn(64, 16)
        y = conv(x, w)[:, :, 1:-1, 1:-1]  # (the zero-padded border has fewer inputs)
        assert abs(float(y.detach().std()) - 1.0) < 0.1, style_scale
        conv.demodulate = False
        raw = float(conv(x, w)[:, :, 1:-1, 1:-1].detach().std())
        if style_scale != 1.0:  # without it the output std follows the styles' magnitude
            assert raw > 3 if style_scale > 1 else raw < 0.3


def test_modulated_conv_equals_the_papers_per_sample_weights():
    """Scaling inputs and outputs (our form) = convolving each sample with its own modulated,
    demodulated weight w''_{oik} = s_i w_{oik} / sqrt(sum (s_i w_{oik})^2 + eps)."""
    import torch.nn.functional as F

    torch.manual_seed(2)
    conv = ModulatedConv2d(6, 5, 4, 3)
    x, w = torch.randn(3, 6, 7, 7), torch.randn(3, 4)
    s = conv.affine(w)
    weight = conv.weight * conv.scale
    wm = weight[None] * s[:, None, :, None, None]                      # (N, O, I, k, k)
    wm = wm * torch.rsqrt(wm.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    ref = F.conv2d(x.reshape(1, 18, 7, 7), wm.reshape(15, 6, 3, 3), padding=1, groups=3)
    torch.testing.assert_close(conv(x, w), ref.reshape(3, 5, 7, 7), atol=1e-5, rtol=1e-4)


def test_equalized_learning_rate_scaling():
    m = make(32, fmap_base=256, fmap_max=32)
    G, D = m.nets["G"], m.nets["D"]
    for conv in [layer.conv for layer in G.synthesis.convs]:
        i, k = conv.weight.shape[1], conv.weight.shape[2]
        assert conv.scale == pytest.approx(1 / math.sqrt(i * k * k))  # He scale at run time
        assert 0.8 < float(conv.weight.detach().std()) < 1.2  # stored N(0, 1)
    for block in D.blocks:
        c = block.conv0
        assert c.scale == pytest.approx(math.sqrt(2) / math.sqrt(c.weight[0].numel()))
        assert 0.8 < float(c.weight.detach().std()) < 1.2
    # the mapping network's lr multiplier: stored weights N(0, 1/0.01^2), effective N(0, He)
    fc = G.mapping.net[1]
    assert 80 < float(fc.weight.detach().std()) < 120
    assert 0.8 < float((fc.weight * fc.scale).detach().std() * math.sqrt(fc.weight.shape[1] / 2)) < 1.2
    # an Adam step of size lr on a stored weight moves the effective weight by lr * scale,
    # so layers of any fan-in learn at the same relative speed
    loss = G(torch.randn(4, m.cfg.z_dim)).square().mean()
    loss.backward()
    assert all(p.grad is not None for p in G.synthesis.parameters())


def test_lazy_phases_run_at_their_intervals_with_shared_optimizers(tmp_path):
    trainer = Trainer(tiny_config(17), tmp_path / "run")
    phases = {p.name: p for p in trainer.phases}
    assert [p.name for p in trainer.phases] == ["Gmain", "Greg", "Dmain", "Dreg"]
    assert (phases["Greg"].interval, phases["Dreg"].interval) == (4, 16)
    assert set(trainer.optimizers) == {"G", "D"}  # main and reg phases share one Adam
    t = trainer.cfg.train
    g, d = trainer.optimizers["G"].param_groups[0], trainer.optimizers["D"].param_groups[0]
    assert g["lr"] == pytest.approx(t.lr_g * 4 / 5) and d["lr"] == pytest.approx(t.lr_d * 16 / 17)
    assert d["betas"][1] == pytest.approx(0.99 ** (16 / 17))
    trainer.run()
    stats = [json.loads(line) for line in (tmp_path / "run" / "stats.jsonl").open()]
    stats = [s for s in stats if "grad_norm/G" in s]  # log records (Gmain logs as G)
    greg = [s["step"] - 1 for s in stats if "pl_penalty" in s]  # the step index that ran it
    dreg = [s["step"] - 1 for s in stats if "r1" in s]
    assert greg == [0, 4, 8, 12, 16] and dreg == [0, 16]
    assert all("grad_norm/D" in s and "loss_d" in s and "loss_g" in s for s in stats)
    # one Adam per group counted every update of both its phases
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    d_steps = {int(v["step"]) for v in state["optimizers"]["D"]["state"].values()}
    g_steps = {int(v["step"]) for v in state["optimizers"]["G"]["state"].values()}
    # (parameters a regulariser's loss does not reach, e.g. D's output bias for R1, get no
    # gradient there and so no Adam update)
    assert max(d_steps) == 17 + 2 and max(g_steps) == 17 + 5
    assert min(d_steps) == 17 and min(g_steps) == 17
    assert state["model_extra"]["pl_mean"] > 0


def test_regularisers_can_be_switched_off():
    m = make(8, r1_gamma=0.0, pl_weight=0.0)
    from gankit.config import TrainConfig
    assert [p.name for p in m.phases(TrainConfig())] == ["Gmain", "Dmain"]


def test_same_seed_same_image_and_psi_zero_gives_the_w_avg_image():
    m = make(16)
    randomize(m)
    z = m.make_latents([0, 1, 2, 3])
    a = m.generate(z)
    assert torch.equal(a, m.generate(m.make_latents([0, 1, 2, 3])))
    assert (a[0] - a[1]).abs().max() > 1e-3
    mean = m.generate(z, psi=0.0)
    G = m.nets["G"]
    ws = G.w_avg.view(1, 1, -1).expand(1, m.num_ws, -1)
    direct = G.synthesis(ws, None, "const")[0].clamp(-1, 1)
    for i in range(4):
        assert torch.allclose(mean[i], direct, atol=1e-5)
    half = m.generate(z, psi=0.5)
    assert not torch.allclose(half, a, atol=1e-4) and not torch.allclose(half, mean, atol=1e-4)
    assert (m.generate(z, psi=0.0, truncation_cutoff=2)[0] - mean[0]).abs().max() > 1e-4
    # noise modes
    assert not torch.allclose(m.generate(z, noise="off"), a, atol=1e-4)
    assert not torch.allclose(m.generate(z, noise="random"), m.generate(z, noise="random"))
    with pytest.raises(ConfigError, match="sampling options"):
        m.generate(z, temperature=2)


def test_style_mixing():
    m = make(16)
    randomize(m)
    z1, z2 = m.make_latents([1, 2]), m.make_latents([3, 4])
    assert torch.allclose(m.generate(z1, mix_z=z2, mix_layers=(0, m.num_ws)), m.generate(z2),
                          atol=1e-6)
    coarse = m.generate(z1, mix_z=z2, mix_layers=(2, m.num_ws))
    assert not torch.allclose(coarse, m.generate(z1), atol=1e-4)
    assert not torch.allclose(coarse, m.generate(z2), atol=1e-4)
    assert torch.equal(m.generate(z1, mix_seeds=[3, 4], mix_layers=[2, 6]),
                       m.generate(z1, mix_z=z2, mix_layers=(2, 6)))
    grid = m.mix_grid(z1, z2, mix_layers=(2, 6))
    assert torch.allclose(grid[1], m.generate(z1[:1], mix_z=z2[1:], mix_layers=(2, 6)),
                          atol=1e-5)
    with pytest.raises(ConfigError, match="mix_layers"):
        m.generate(z1, mix_z=z2, mix_layers=(3, 3))


def test_ada_p_is_in_every_checkpoint_and_restored(tmp_path):
    cfg = tiny_config(8, ada_interval=1)
    cfg.train.checkpoint_every = 4
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.model.augment.p = 0.5  # (an untrained D's r_t is arbitrary: start p mid-way)
    trainer.run()
    p = trainer.model.augment.p
    assert 0 < p < 1 and p != 0.5  # adjusted from r_t every D step
    ckpts = sorted((tmp_path / "run" / "checkpoints").glob("ckpt-*.pt"))
    assert [c.name for c in ckpts] == ["ckpt-000004.pt", "ckpt-000008.pt"]
    saved = [load_checkpoint(c)["model_extra"]["augment"]["p"] for c in ckpts]
    assert saved[1] == p and saved[0] != 0.5
    resumed = Trainer(tiny_config(12, ada_interval=1), tmp_path / "run", resume=ckpts[0])
    assert resumed.step == 4 and resumed.model.augment.p == saved[0]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sg2") / "run"
    Trainer(tiny_config(6), out).run()
    return out


def test_sampling_tools_on_a_trained_run(tiny_run, tmp_path):
    from gankit.sampling import project
    from gankit.sampling.grids import mixing_grid, truncation_grid

    gen = load_generator(tiny_run / "export", "cpu")
    assert {"mix", "truncate"} <= gen.capabilities
    rows, ncol = truncation_grid(gen, [0, 1, 2], [1.0, 0.0])
    assert ncol == 3 and torch.allclose(rows[3], rows[4], atol=1e-5)
    cells, ncol = mixing_grid(gen, [0, 1], [5, 6], mix_layers=(0, gen.model.num_ws))
    assert ncol == 3 and torch.allclose(cells[4:6], cells[1:3], atol=1e-5)
    res = project(gen, gen.generate([99]), steps=10, n_init=2)
    assert res.final_mse <= res.initial_mse
    from gankit.sampling import interpolate, walk
    d = torch.zeros(gen.model.latent_dim)
    d[0] = 1
    images, ncol = walk(gen, [0], d, [-2.0, 0.0, 2.0], psi=0.7)  # latent editing
    assert ncol == 3 and torch.allclose(images[1], gen.generate([0], psi=0.7)[0], atol=1e-5)
    frames = interpolate(gen, [1, 2], 4)
    assert torch.allclose(frames[-1], gen.generate([2])[0], atol=1e-5)


def test_onnx_export_matches_pytorch(tiny_run, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from gankit.export.onnx import export_onnx, verify_onnx

    gen = load_generator(tiny_run / "export", "cpu")
    path = export_onnx(gen, tmp_path / "g.onnx", options={"psi": 0.7})
    assert verify_onnx(gen, path, options={"psi": 0.7}) < 1e-4


def test_cli_and_studio_on_a_trained_run(tiny_run, tmp_path):
    """`gankit sample --option psi=0` (one mean image), `gankit mix`, and the studio's ops."""
    import numpy as np

    from gankit.cli import main
    from gankit.studio import ops

    assert main(["sample", str(tiny_run), "--seeds", "0-3", "--option", "psi=0",
                 "--out", str(tmp_path / "mean.png"), "--npz", str(tmp_path / "m.npz")]) == 0
    imgs = np.load(tmp_path / "m.npz")["images"]
    assert imgs.shape == (4, 16, 16, 1) and all(np.array_equal(imgs[0], i) for i in imgs)
    assert main(["mix", str(tiny_run), "--rows", "0-1", "--cols", "5-7", "--layers", "2,6",
                 "--out", str(tmp_path / "mix.png")]) == 0
    assert (tmp_path / "mix.png").stat().st_size > 0
    gen = load_generator(tiny_run, "cpu")
    row = ops.mix(gen, 0, 5, (0, gen.model.num_ws))
    assert torch.allclose(row[1], row[2], atol=1e-5)  # every style from the mix seed
    a, b = ops.sample(gen, [0, 1], psi=0.0)
    assert torch.allclose(a, b, atol=1e-5)
    frame = ops.interpolate(gen, 0, 1, 1.0, psi=1.0)
    assert torch.allclose(frame[0], ops.sample(gen, [1])[0], atol=1e-5)


def test_noise_lr_mul_scales_the_noise_strength_used():
    """The strength used is ``noise_strength * noise_lr_mul`` (so Adam's steps on the stored
    value move it ``noise_lr_mul`` times as far); 0 = no noise whatever the stored value."""
    z = torch.randn(2, TINY["z_dim"])
    off = make(16, noise_lr_mul=0.0)
    randomize(off)
    assert torch.equal(off.generate(z, noise="random"), off.generate(z, noise="off"))
    half, full = make(16, noise_lr_mul=0.5), make(16)
    randomize(half)
    randomize(full)
    with torch.no_grad():
        for layer in full.nets["G"].synthesis.convs:
            layer.noise_strength.mul_(0.5)
    assert not torch.equal(half.generate(z, noise="const"), half.generate(z, noise="off"))
    assert torch.allclose(half.generate(z, noise="const"), full.generate(z, noise="const"),
                          atol=1e-6)


def test_noise_max_res_keeps_noise_out_of_the_finer_layers():
    """With ``noise_max_res`` 8, only the 4x4 and 8x8 layers use their noise images: changing
    a 16x16 noise image leaves the image as it was, changing an 8x8 one does not."""
    z = torch.randn(2, TINY["z_dim"])
    model = make(16, noise_max_res=8)
    randomize(model)
    G = model.nets["G"]
    res = G.synthesis.layer_res
    assert [layer.noise_lr_mul for layer in G.synthesis.convs] == \
        [1.0 if r <= 8 else 0.0 for r in res]
    g = torch.Generator().manual_seed(3)
    noises = [torch.randn(2, 1, r, r, generator=g) for r in res]
    with torch.no_grad():
        base = G(z, noises=noises)
        fine = [n if r <= 8 else torch.randn(n.shape, generator=g) for n, r in zip(noises, res)]
        coarse = [torch.randn(n.shape, generator=g) if r == 8 else n
                  for n, r in zip(noises, res)]
        assert torch.equal(G(z, noises=fine), base)
        assert not torch.allclose(G(z, noises=coarse), base, atol=1e-4)
    every = make(16)
    randomize(every)
    with torch.no_grad():
        assert not torch.allclose(every.nets["G"](z, noises=fine),
                                  every.nets["G"](z, noises=noises), atol=1e-4)


def test_orig_architecture_has_one_torgb_at_the_last_resolution():
    """``g_architecture`` orig: a single ToRGB at full resolution (the last style input),
    no image sums from the coarser levels; the default (skip) has one per resolution."""
    skip, orig = make(16), make(16, g_architecture="orig")
    assert len(skip.nets["G"].synthesis.rgbs) == 3 and len(orig.nets["G"].synthesis.rgbs) == 1
    assert orig.num_ws == skip.num_ws
    z = torch.randn(2, TINY["z_dim"])
    G = orig.nets["G"]
    ws = G.ws(z)
    with torch.no_grad():
        img = G.synthesis(ws)
        assert img.shape == (2, 3, 16, 16)
        last = ws.clone()
        last[:, -1] = torch.randn_like(last[:, -1])
        assert not torch.allclose(G.synthesis(last), img, atol=1e-5)
    with pytest.raises(ConfigError):
        config_from_dict({"model": {"name": "stylegan2", "g_architecture": "resnet"}})


def test_noise_fade_schedule_ends_with_no_noise_in_the_run_and_its_export(tmp_path):
    """``noise_fade`` 0.5 of 8 steps: full noise for steps 0-3, then linearly less, none in
    the last step; the gain is a buffer, so the EMA copy, checkpoints and the export carry it
    (the final generator samples the same with noise as without), and a resumed run continues
    the schedule."""
    model = make(16, noise_fade=0.5)
    model.total_steps = 8
    assert [model.noise_gain(s) for s in range(8)] == [1, 1, 1, 1, 0.75, 0.5, 0.25, 0]
    assert make(16).noise_gain(5) == 1.0  # off by default
    cfg = tiny_config(8, noise_fade=0.5)
    cfg.train.ema_decay, cfg.train.checkpoint_every = 0.9, 5
    trainer = Trainer(cfg, tmp_path / "run")
    trainer.run()
    G = load_generator(tmp_path / "run" / "export")
    gains = {float(b) for n, b in G.model.nets["G"].named_buffers() if n.endswith("noise_gain")}
    assert gains == {0.0}
    z = torch.randn(3, TINY["z_dim"])
    strengths = [float(p.detach()) for n, p in G.model.nets["G"].named_parameters()
                 if n.endswith("noise_strength")]
    assert any(s != 0 for s in strengths)  # learned, but multiplied by 0
    assert torch.equal(G.model.generate(z, noise="random"), G.model.generate(z, noise="off"))
    # a checkpoint mid-fade holds the gain of the step before it
    mid = load_checkpoint(tmp_path / "run" / "checkpoints" / "ckpt-000005.pt")
    key = next(k for k in mid["nets"]["G"] if k.endswith("noise_gain"))
    assert float(mid["nets"]["G"][key]) == 0.75  # the gain its last step (index 4) ran with
    # weights saved before the gain existed load with the full noise
    old = {k: v for k, v in mid["nets"]["G"].items() if not k.endswith("noise_gain")}
    fresh = make(16, channels=1)
    fresh.nets["G"].load_state_dict(old)
    assert {float(b) for n, b in fresh.nets["G"].named_buffers()
            if n.endswith("noise_gain")} == {1.0}


def test_dense_input_is_a_map_of_the_first_style_input():
    """``g_input`` dense: no learned constant; the first layer's 4x4 input is a linear map of
    ws[:, 0], so two latents start from different tensors (with the constant, from one)."""

    def first_inputs(model):
        S, seen = model.nets["G"].synthesis, []
        hook = S.convs[0].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
        with torch.no_grad():
            ws = model.nets["G"].ws(torch.randn(2, TINY["z_dim"]))
            S(ws, noise_mode="off")
        hook.remove()
        return seen[0], ws, S

    x, ws, S = first_inputs(make(16, g_input="dense"))
    assert not hasattr(S, "const") and x.shape == (2, 8, 4, 4)
    assert not torch.allclose(x[0], x[1])
    with torch.no_grad():
        assert torch.allclose(x, S.input(ws[:, 0]).view(2, 8, 4, 4))
    x, _, S = first_inputs(make(16))
    assert torch.equal(x[0], x[1]) and torch.equal(x[:1], S.const)
    with pytest.raises(ConfigError):
        config_from_dict({"model": {"name": "stylegan2", "g_input": "noise"},
                          "data": {"dataset": "synthetic:8"}})


def test_strided_discriminator_halves_the_resolution_with_each_4x4_convolution(tmp_path):
    """``d_architecture`` strided: one 4x4 stride-2 convolution per halving (no 3x3 at full
    resolution, no residual blocks), ``d_fmap_max`` widening only D, the same epilogue; it
    trains and checkpoints like the default, whose state-dict keys are unchanged."""
    m = make(16, d_architecture="strided", d_fmap_max=16)
    D = m.nets["D"]
    assert [tuple(c.weight.shape) for c in D.convs] == [(8, 3, 4, 4), (16, 8, 4, 4)]
    x = torch.randn(4, 3, 16, 16, requires_grad=True)
    y = D(x)
    assert y.shape == (4,)
    (g,) = torch.autograd.grad(y.sum(), x)
    assert g.abs().sum() > 0
    # the second layer reads only the first's output: a stride-2 4x4 conv maps 16 -> 8 -> 4
    seen = []
    hook = D.mbstd.register_forward_pre_hook(lambda mod, args: seen.append(args[0].shape))
    D(x.detach())
    hook.remove()
    assert seen == [(4, 16, 4, 4)]
    count = lambda net: sum(p.numel() for p in net.parameters())  # noqa: E731
    assert count(m.nets["G"]) == count(make(16).nets["G"])  # d_fmap_max widens D only
    keys = set(make(16).nets["D"].state_dict())
    assert {"from_rgb.weight", "blocks.0.conv0.weight", "conv.weight", "fc.weight",
            "out.weight"} <= keys
    with pytest.raises(ValueError, match="expects 16x16"):
        D(torch.randn(2, 3, 8, 8))
    cfg = tiny_config(4, d_architecture="strided")
    cfg.train.checkpoint_every = 2
    Trainer(cfg, tmp_path / "run").run()
    ck = load_checkpoint(tmp_path / "run" / "checkpoints" / "ckpt-000004.pt")
    assert "convs.0.weight" in ck["nets"]["D"]
    with pytest.raises(ConfigError):
        config_from_dict({"model": {"name": "stylegan2", "d_architecture": "skip"},
                          "data": {"dataset": "synthetic:8"}})
