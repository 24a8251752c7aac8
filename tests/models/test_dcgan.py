"""The `dcgan` model's options: a per-sample D (model.d_norm=none) and lazy R1 (model.r1_every)."""
import pytest
import torch
from torch import nn

from gankit.config import TrainConfig, config_from_dict
from gankit.data.base import DataInfo
from gankit.errors import ConfigError
from gankit.models.base import due_phases
from gankit.registry import MODELS

INFO = DataInfo("image", channels=1, resolution=28, num_classes=0)


def _model(**over):
    raw = {"model": {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8, **over},
           "data": {"dataset": "synthetic:64"}}
    return MODELS.get("dcgan")(config_from_dict(raw).model, INFO)


def test_d_norm_none_judges_each_image_alone():
    torch.manual_seed(0)
    D = _model(d_norm="none").nets["D"].train()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.bias is not None for c in convs[:-1])  # hidden convs carry their own bias
    x = torch.randn(6, 1, 28, 28)
    y = x.clone()
    y[3:] = torch.randn(3, 1, 28, 28)  # other batch mates: the first three logits stay
    assert torch.allclose(D(x)[:3], D(y)[:3])
    # the paper's D (batch norm) mixes the batch: the same change moves the first logits
    Db = _model().nets["D"].train()
    assert any(isinstance(m, nn.BatchNorm2d) for m in Db.modules())
    assert not torch.allclose(Db(x)[:3], Db(y)[:3])


def test_d_norm_rejects_unknown():
    with pytest.raises(ConfigError, match="d_norm"):
        _model(d_norm="layer")


def _d_loss(model, step, batch):
    """The loss of the D-updating phase the trainer runs at ``step`` (D, or Dr1 in its place)."""
    model.on_step_start(step, 0)
    model.noise.gen.manual_seed(1)
    (phase,) = [ph.name for _, ph in due_phases(model.phases(TrainConfig()), step)
                if ph.nets == ("D",)]
    return model.loss(phase, batch, model.nets)


def test_lazy_r1_runs_on_multiples_of_r1_every_with_the_weight_scaled():
    torch.manual_seed(0)
    batch = {"real": torch.rand(4, 1, 28, 28) * 2 - 1}
    lazy = _model(d_norm="none", penalty="r1", r1_gamma=2.0, r1_every=3)
    eager = _model(d_norm="none", penalty="r1", r1_gamma=2.0)
    eager.load_state_dict(lazy.state_dict())
    plain = _model(d_norm="none")
    plain.load_state_dict(lazy.state_dict())
    # lazy R1 is a phase: Dr1 runs in place of D every third step, on D's optimizer
    dr1 = lazy.phases(TrainConfig())[-1]
    assert (dr1.name, dr1.interval, dr1.replaces, dr1.group) == ("Dr1", 3, "D", "D")
    assert [ph.name for ph in eager.phases(TrainConfig())] == ["D", "G"]
    base, _ = _d_loss(plain, 0, batch)
    for step in range(6):
        loss, logs = _d_loss(lazy, step, batch)
        if step % 3:
            assert "r1" not in logs and torch.allclose(loss, base)
        else:
            e_loss, e_logs = _d_loss(eager, step, batch)
            assert torch.allclose(logs["r1"], e_logs["r1"])
            # gamma/2 * R1, taken a third as often with three times the weight
            assert torch.allclose(loss - base, 3 * (e_loss - base), rtol=1e-4, atol=1e-6)


def test_extra_blocks_deepen_g_and_d_at_the_same_widths():
    plain, deep = _model(d_norm="none"), _model(d_norm="none", g_extra=True, d_extra=True)

    def convs(net, kind=nn.Conv2d):
        return [m for m in net.modules() if type(m) is kind]

    # one 3x3 block per hidden stage of G (7x7, 14x14) and per stage of D (14x14, 7x7)
    assert len(convs(deep.nets["G"])) == len(convs(plain.nets["G"])) + 2
    assert len(convs(deep.nets["D"])) == len(convs(plain.nets["D"])) + 2
    assert all(c.kernel_size == (3, 3) and c.in_channels == c.out_channels
               for c in convs(deep.nets["G"]))
    z = torch.randn(3, 8)
    assert deep.nets["G"](z).shape == (3, 1, 28, 28)
    assert deep.nets["D"](deep.nets["G"](z)).shape == (3,)


@pytest.mark.parametrize("reuse", [True, False])
def test_topk_g_loss_takes_the_fakes_d_rates_most_real(reuse):
    """model.topk (Sinha et al. 2020): after the ramp, G's loss is the loss of the top
    fraction of D's logits on the fakes; during the ramp the fraction falls linearly from 1."""
    torch.manual_seed(0)
    batch = {"real": torch.rand(8, 1, 28, 28) * 2 - 1}
    model = _model(d_norm="none", topk=0.25, topk_ramp=100, reuse_fakes=reuse)
    full = _model(d_norm="none", reuse_fakes=reuse)
    full.load_state_dict(model.state_dict())
    seen = {}

    def g_loss(m, step):
        m.on_step_start(step, 0)
        m.noise.gen.manual_seed(1)
        for _, ph in due_phases(m.phases(TrainConfig()), step):
            if ph.nets == ("G",):
                D = m.nets["D"]
                hook = D.register_forward_hook(lambda mod, i, out: seen.__setitem__("l", out))
                try:
                    loss, _ = m.loss(ph.name, batch, m.nets)
                finally:
                    hook.remove()
                return loss
            m.loss(ph.name, batch, m.nets)

    # before the ramp: all fakes, the same loss as topk=1
    assert torch.allclose(g_loss(model, 0), g_loss(full, 0))
    assert model._keep == 1.0
    g_loss(model, 50)
    assert model._keep == pytest.approx(1 - 0.75 * 0.5)
    after = g_loss(model, 500)
    logits = seen["l"].detach().reshape(-1)
    top2 = logits.topk(2).values  # 25% of 8
    expect = model.adv.g_loss(top2.reshape(2, 1))
    assert torch.allclose(after, expect)
    assert not torch.allclose(after, model.adv.g_loss(logits.reshape(8, 1)))


def test_d_stem_adds_a_full_resolution_3x3_conv_before_the_first_stride():
    plain, stem = _model(d_norm="none"), _model(d_norm="none", d_stem=6)
    convs = [m for m in stem.nets["D"].modules() if isinstance(m, nn.Conv2d)]
    first, second = convs[0], convs[1]
    assert (first.in_channels, first.out_channels, first.kernel_size, first.stride) == \
        (1, 6, (3, 3), (1, 1))
    assert (second.in_channels, second.stride) == (6, (2, 2))
    assert len(convs) == len([m for m in plain.nets["D"].modules()
                              if isinstance(m, nn.Conv2d)]) + 1
    x = torch.randn(3, 1, 28, 28, requires_grad=True)
    out = stem.nets["D"](x)
    assert out.shape == (3,)
    # the stem keeps the full resolution: its output is 28 x 28, and D still judges each image
    # alone (a change to one image moves only its own logit)
    assert first(x).shape == (3, 6, 28, 28)
    out[0].backward()
    assert x.grad[0].abs().sum() > 0 and x.grad[1:].abs().sum() == 0


def test_g_last_blocks_adds_3x3_blocks_at_the_last_hidden_stage():
    plain, more = _model(g_extra=True), _model(g_extra=True, g_last_blocks=2)
    convs = [m for m in more.nets["G"].modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == len([m for m in plain.nets["G"].modules()
                              if isinstance(m, nn.Conv2d)]) + 2
    # the two new blocks sit right before the output ConvT, at the last hidden width (ngf)
    layers = list(more.nets["G"].net)
    out = layers[-2]
    assert isinstance(out, nn.ConvTranspose2d) and out.out_channels == 1
    assert [type(m) for m in layers[-8:-2]] == [nn.Conv2d, nn.BatchNorm2d, nn.ReLU] * 2
    assert all(c.in_channels == c.out_channels == 4 and c.kernel_size == (3, 3)
               for c in convs[-2:])
    z = torch.randn(3, 8)
    assert more.nets["G"](z).shape == (3, 1, 28, 28)
    # off by default: the same layers as before the option existed
    assert [type(m) for m in _model(g_extra=True, g_last_blocks=0).nets["G"].net] == \
        [type(m) for m in plain.nets["G"].net]


def test_lr_warmup_ramps_then_leaves_the_decay_schedule_alone():
    steps = 1000
    plain = _model(lr_decay=0.25)
    warm = _model(lr_decay=0.25, lr_warmup=100)
    assert warm.lr_factor(0, steps) == pytest.approx(0.01)
    assert warm.lr_factor(49, steps) == pytest.approx(0.5)
    for step in (99, 500, 750, 900, 999):
        assert warm.lr_factor(step, steps) == pytest.approx(plain.lr_factor(step, steps))
    assert plain.lr_factor(0, steps) == 1.0 and plain.lr_factor(900, steps) < 1.0


def test_rotate_quarters_turns_each_image_by_its_own_k():
    from gankit.models.dcgan import rotate_quarters

    x = torch.arange(2 * 9, dtype=torch.float32).reshape(2, 1, 3, 3)
    out = rotate_quarters(x, torch.tensor([1, 2]))
    assert torch.equal(out[0], torch.rot90(x[0], 1, (1, 2)))
    assert torch.equal(out[1], torch.rot90(x[1], 2, (1, 2)))
    assert out[0, 0, 0, 0] == 2.0  # a quarter turn counter-clockwise: top-left <- top-right


def test_rotation_adds_the_ss_gan_cross_entropy_to_both_losses():
    """model.rotation (SS-GAN): D gets a 4-way rotation head; its phases add rotation times
    the cross-entropy on rotated reals, G's phase rotation_g times it on rotated fakes."""
    plain = _model(d_norm="none")
    assert plain.nets["D"].rot is None  # off by default: D's parameters as before
    model = _model(d_norm="none", rotation=1.0, rotation_g=0.2)
    D = model.nets["D"]
    assert D.rot.out_channels == 4
    assert set(plain.nets["D"].state_dict()) < set(D.state_dict())
    torch.manual_seed(0)
    x = torch.randn(8, 1, 28, 28)
    assert D.rotation_logits(x).shape == (8, 4)
    train = TrainConfig()
    model.phases(train)
    model.on_step_start(0, 0)
    loss_d, logs = model.loss("D", {"real": x}, model.nets)
    assert "rot_d" in logs and logs["rot_d"] > 0
    # the G phase reuses the D phase's fakes and adds 0.2 x their rotation cross-entropy
    fake = model._stash[0]
    loss_g, logs_g = model.loss("G", {}, model.nets)
    assert "rot_g" in logs_g
    adversarial = model.adv.g_loss(D(fake))
    assert loss_g.item() == pytest.approx((adversarial + 0.2 * logs_g["rot_g"]).item(), rel=1e-5)
    gen = [p for p in model.nets["G"].parameters()]
    g_with = torch.autograd.grad(loss_g, gen[0], retain_graph=True)[0]
    assert loss_g.item() > 0 and g_with.abs().sum() > 0
    # D's rotation term moves the rotation head; the adversarial loss alone does not
    loss_d, _ = model.loss("D", {"real": x}, model.nets)
    assert torch.autograd.grad(loss_d, D.rot.weight)[0].abs().sum() > 0
    with pytest.raises(ConfigError, match="pack"):
        _model(d_norm="none", rotation=1.0, pack=2)


def test_info_codes_adds_an_infogan_category_to_the_latent_and_q_losses():
    """model.info_codes (InfoGAN): latents end in a one-hot category drawn from the seed; D's Q head
    must recover it from the fakes, in D's loss and in G's (weight info_weight)."""
    plain = _model(d_norm="none")
    assert plain.latent_dim == 8 and plain.nets["D"].q is None  # off by default
    model = _model(d_norm="none", info_codes=5, info_weight=0.5)
    assert model.latent_dim == 13
    z = model.make_latents([0, 1, 2, 3])
    assert z.shape == (4, 13)
    assert torch.equal(z[:, 8:].sum(1), torch.ones(4)) and set(z[:, 8:].unique().tolist()) == {0, 1}
    assert torch.equal(z, model.make_latents([0, 1, 2, 3]))  # the same seed, the same latent
    assert torch.equal(z[:, :8], plain.make_latents([0, 1, 2, 3]))  # z as without info_codes
    assert model.nets["G"](z).shape == (4, 1, 28, 28)
    torch.manual_seed(0)
    x = torch.randn(8, 1, 28, 28)
    model.phases(TrainConfig())
    model.on_step_start(0, 0)
    loss_d, logs = model.loss("D", {"real": x}, model.nets)
    assert "q_d" in logs and model._cats.shape == (8,)
    drawn = model._stash[0]
    assert model.nets["D"].category_logits().shape == (8, 5)
    loss_g, logs_g = model.loss("G", {}, model.nets)
    # G's loss: the adversarial loss of the kept fakes + 0.5 x the Q cross-entropy on them
    D = model.nets["D"]
    adversarial = model.adv.g_loss(D(drawn))
    expected = nn.functional.cross_entropy(D.category_logits(), model._cats)
    assert logs_g["q_g"].item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss_g.item() == pytest.approx((adversarial + 0.5 * expected).item(), rel=1e-5)
    # the Q term reaches G's input layer, including the weights that read the category
    first = model.nets["G"].net[0].weight
    grad = torch.autograd.grad(loss_g, first)[0]
    assert grad[8:].abs().sum() > 0
    with pytest.raises(ConfigError, match="info_codes"):
        _model(d_norm="none", info_codes=5, penalty="gp")


def test_info_labels_teaches_the_q_head_the_real_labels_in_d_phases_only():
    """model.info_labels (semi-supervised InfoGAN): D's loss adds info_weight x the Q head's
    cross-entropy on the reals' labels; G's loss is unchanged; the code must match the classes."""
    from gankit.data.base import NoiseSource

    labelled = DataInfo("image", channels=1, resolution=28, num_classes=5)
    raw = {"model": {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8, "d_norm": "none",
                     "info_codes": 5, "info_weight": 0.5, "info_labels": True},
           "data": {"dataset": "synthetic:64"}}
    model = MODELS.get("dcgan")(config_from_dict(raw).model, labelled)
    raw["model"]["info_labels"] = False
    plain = MODELS.get("dcgan")(config_from_dict(raw).model, labelled)
    plain.nets.load_state_dict(model.nets.state_dict())
    torch.manual_seed(0)
    x, y = torch.randn(8, 1, 28, 28), torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    losses = {}
    for key, m in (("labels", model), ("plain", plain)):
        m.noise = NoiseSource(3)  # the same fakes for both
        m.phases(TrainConfig())
        m.on_step_start(0, 0)
        losses[key] = m.loss("D", {"real": x, "label": y}, m.nets)
    (loss_d, logs), (loss_plain, logs_plain) = losses["labels"], losses["plain"]
    assert "q_real" not in logs_plain
    D = model.nets["D"]
    D(x)  # the Q head's logits on the reals
    expected = nn.functional.cross_entropy(D.category_logits(), y)
    assert logs["q_real"].item() == pytest.approx(expected.item(), rel=1e-4)
    assert loss_d.item() == pytest.approx(loss_plain.item() + 0.5 * expected.item(), rel=1e-4)
    loss_g, logs_g = model.loss("G", {}, model.nets)
    assert "q_real" not in logs_g and "q_g" in logs_g
    raw["model"].update(info_labels=True, info_codes=4)
    with pytest.raises(ConfigError, match="info_labels"):
        MODELS.get("dcgan")(config_from_dict(raw).model, labelled)
