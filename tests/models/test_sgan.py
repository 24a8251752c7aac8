"""sgan: the K+1-class loss, the semi-supervised data set, and classification from few labels."""
import math

import pytest
import torch
import torch.nn.functional as F

from gankit.config import load_config
from gankit.data.base import DataInfo, ImageDataset, NoiseSource
from gankit.data.semi import SemiSupervised, balanced_subset
from gankit.errors import ConfigError, DataError
from gankit.metrics.classifier import accuracy
from gankit.models.base import build_model
from loops import fit


def _dataset(n=600, k=3, seed=0):
    """k classes: a bright square in a different place per class, plus noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % k
    x = -torch.ones(n, 1, 8, 8) + 0.3 * torch.randn(n, 1, 8, 8, generator=g)
    for c in range(k):
        x[labels == c, :, 2 * c:2 * c + 3, 2 * c:2 * c + 3] = 0.8
    return ImageDataset(x.clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8), labels)


def _model(**over):
    cfg = load_config({"model": {"name": "sgan", "z_dim": 8, "width": 0.1, **over}})
    return build_model(cfg.model, DataInfo("image", 1, 8, num_classes=3))


def test_unsupervised_loss_is_the_k_plus_1_softmax():
    """softplus(s) - s and softplus(s) equal -log p(real) and -log p(fake) with a 0 fake logit."""
    logits = torch.randn(5, 4)
    s = torch.logsumexp(logits, 1)
    full = torch.cat([logits, torch.zeros(5, 1)], 1)
    log_p = F.log_softmax(full, 1)
    p_fake = log_p[:, -1]
    p_real = torch.log1p(-p_fake.exp())
    assert torch.allclose(F.softplus(s) - s, -p_real, atol=1e-5)
    assert torch.allclose(F.softplus(s), -p_fake, atol=1e-5)


def test_balanced_subset_and_semi_batches():
    ds = _dataset()
    idx = balanced_subset(ds.labels, 9, 3)
    assert torch.bincount(ds.labels[idx]).tolist() == [3, 3, 3]
    assert torch.equal(idx, balanced_subset(ds.labels, 9, 3))
    with pytest.raises(DataError):
        balanced_subset(ds.labels, 10, 3)
    semi = SemiSupervised(ds, 9)
    batch = next(semi.loader(16, seed=0))
    assert "label" not in batch and batch["labelled_real"].shape == (16, 1, 8, 8)
    # every labelled example comes from the chosen 9
    chosen = {tuple(ds.images[i].flatten().tolist()) for i in idx.tolist()}
    got = ((batch["labelled_real"] + 1) * 127.5).round().to(torch.uint8)
    assert all(tuple(x.flatten().tolist()) in chosen for x in got)


def test_losses_backprop_and_need_semi_data():
    m = _model()
    ds = SemiSupervised(_dataset(), 9)
    batch = next(ds.loader(8, seed=0))
    for phase in ("D", "G"):
        loss, logs = m.loss(phase, batch, m.nets)
        assert torch.isfinite(loss)
        m.zero_grad()
        loss.backward()
        assert all(p.grad is not None for p in m.nets[phase].parameters())
    with pytest.raises(DataError, match="semi"):
        m.loss("D", {"real": batch["real"]}, m.nets)


def test_classifies_from_nine_labels():
    torch.manual_seed(0)
    train, test = SemiSupervised(_dataset(), 9), _dataset(300, seed=1)
    m = _model(width=0.2, d_ema=0.9)  # a window of ~10 of the 150 steps
    fit(m, train.loader(32, seed=0), steps=150, lr=3e-3)
    x = test.images.float() / 127.5 - 1
    res = accuracy(m, x, test.labels)
    assert res["accuracy"] > 0.95, res
    assert math.isclose(res["errors"], 300 * (1 - res["accuracy"]), abs_tol=1e-6)


def test_data_init_normalises_every_layer_once():
    """Salimans & Kingma init: each unit's pre-activation has mean 0, std 1 on the batch;
    the first D loss runs it once and later losses leave the scales alone."""
    m = _model(input_noise=0.0, hidden_noise=0.0)
    D = m.nets["D"]
    ds = SemiSupervised(_dataset(), 9)
    batch = next(ds.loader(64, seed=0))
    assert int(D.initialized) == 0
    m.loss("D", batch, m.nets)
    assert int(D.initialized) == 1
    h = batch["real"].flatten(1)
    for layer in D.body:
        if hasattr(layer, "direction"):
            pre = layer(h)
            assert pre.mean(0).abs().max() < 1e-4
            assert (pre.std(0, unbiased=False) - 1).abs().max() < 1e-3
        h = layer(h)
    scales = [layer.scale.clone() for layer in D.body if hasattr(layer, "direction")]
    m.loss("D", next(ds.loader(64, seed=1)), m.nets)
    assert all(torch.equal(a, layer.scale) for a, layer in
               zip(scales, [x for x in D.body if hasattr(x, "direction")]))
    # resuming keeps the flag, so trained weights are not re-initialised
    assert "initialized" in D.state_dict()


def test_hidden_scales_fixed_unless_asked():
    fixed = {n for n, _ in _model().nets["D"].named_parameters() if n.endswith("scale")}
    assert fixed == {"head.scale"}  # the paper trains only the output layer's scale
    trained = {n for n, _ in _model(train_scale=True).nets["D"].named_parameters()
               if n.endswith("scale")}
    assert len(trained) == 6


def test_feature_matching_uses_features_before_the_noise():
    """The matched features are the last hidden ReLU's output (>= 0), not the noisy copy."""
    m = _model(hidden_noise=5.0)
    D = m.nets["D"].train()
    logits, f = D(torch.rand(16, 1, 8, 8) * 2 - 1, return_features=True)
    assert (f >= 0).all() and logits.shape == (16, 3)
    leaky = _model(leak=0.2).nets["D"]
    assert any(isinstance(x, torch.nn.LeakyReLU) for x in leaky.body)
    assert not any(isinstance(x, torch.nn.LeakyReLU) for x in m.nets["D"].body)


def test_lr_decay():
    assert _model().lr_factor(900, 1000) == 1.0
    m = _model(lr_decay=0.5)
    assert m.lr_factor(0, 1000) == 1.0 and m.lr_factor(500, 1000) == 1.0
    assert m.lr_factor(750, 1000) == pytest.approx(0.5) and m.lr_factor(1000, 1000) == 0.0


def test_classify_uses_the_running_average_of_d():
    m = _model(d_ema=0.5)
    ds = SemiSupervised(_dataset(), 9)
    fit(m, ds.loader(16, seed=0), steps=3, lr=1e-2)
    D, avg = m.nets["D"], m.nets["D_ema"]
    assert not any(p.requires_grad for p in avg.parameters())
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert torch.equal(m.classify(x), m.classify(x, D=avg))
    assert not torch.allclose(m.classify(x), m.classify(x, D=D))
    # one more D step moves the average half way (decay 0.5) towards D's new weights
    before = [p.clone() for p in avg.parameters()]
    loss, _ = m.loss("D", next(ds.loader(16, seed=5)), m.nets)
    loss.backward()
    with torch.no_grad():
        for p in D.parameters():
            p -= 0.1 * p.grad
    m.after_step("D")
    for b, a, p in zip(before, avg.parameters(), D.parameters()):
        assert torch.allclose(a, 0.5 * b + 0.5 * p, atol=1e-6)
    assert "D_ema" not in _model(d_ema=0.0).nets


def test_conv_d_data_init_normalises_every_channel():
    """The conv D's weight-normalised convolutions get the same init: every channel's
    pre-activation has mean 0 and std 1 over the batch and its pixels."""
    m = _model(d_arch="conv", d_channels=4, input_noise=0.0, hidden_noise=0.0, g_wn=True)
    D = m.nets["D"]
    batch = next(SemiSupervised(_dataset(), 9).loader(64, seed=0))
    m.loss("D", batch, m.nets)
    assert int(D.initialized) == 1
    h, checked = batch["real"], 0
    for layer in D.body:
        if hasattr(layer, "direction"):
            pre = layer(h).transpose(0, 1).flatten(1)
            assert pre.mean(1).abs().max() < 1e-4
            assert (pre.std(1, unbiased=False) - 1).abs().max() < 1e-3
            checked += 1
        h = layer(h)
    assert checked == 5
    logits, f = D(batch["real"], return_features=True)
    assert logits.shape == (64, 3) and f.shape == (64, D.head.v.shape[1])


def test_shift_moves_what_d_sees():
    m = _model(shift=2)
    x = -torch.ones(16, 1, 8, 8)  # a black background (-1) with a white 2x2 block
    x[:, :, 3:5, 3:5] = 1
    y = m._shift(x)
    assert y.shape == x.shape and not torch.equal(y, x)
    # whole-pixel shifts filled with black: the block keeps its 4 pixels, the rest stays -1
    assert torch.all((y == 1).sum((1, 2, 3)) == 4) and torch.all((y == -1).sum((1, 2, 3)) == 60)
    assert torch.equal(_model()._shift(x), x)
    batch = next(SemiSupervised(_dataset(), 9).loader(32, seed=0))
    loss, logs = m.loss("D", batch, m.nets)
    assert torch.isfinite(loss)
    loss.backward()


def test_consistency_penalty_compares_two_views():
    """The penalty is the squared distance of D's class softmax on the unlabelled reals and
    the teacher's on another draw: 0 when both views are equal (no shift, no noise, D as its
    own teacher), > 0 once the shifts differ, and it is added to D's loss with its weight."""
    batch = next(SemiSupervised(_dataset(), 9).loader(32, seed=0))
    quiet = dict(input_noise=0.0, hidden_noise=0.0, consistency=3.0,
                 consistency_teacher="self")
    m = _model(**quiet)
    m.loss("D", batch, m.nets)  # runs the data-dependent init
    x = batch["real"]
    assert m._consistency(x, m.nets["D"](x).float()).item() < 1e-10
    shifted = _model(shift=2, **quiet)
    shifted.nets["D"].load_state_dict(m.nets["D"].state_dict())
    D = shifted.nets["D"]
    torch.manual_seed(0)
    c = shifted._consistency(x, D(x).float())
    assert c.item() > 1e-4
    # the weight enters D's loss: the same draws with consistency 0 and 3 differ by 3 * c
    losses, logs = {}, {}
    for w in (0.0, 3.0):
        shifted.cfg.consistency = w
        shifted.noise = NoiseSource(1)
        losses[w], logs[w] = shifted.loss("D", batch, shifted.nets)
    assert "consistency" not in logs[0.0] and logs[3.0]["consistency"] > 1e-4
    assert torch.allclose(losses[3.0] - losses[0.0], 3.0 * logs[3.0]["consistency"])


def test_consistency_teacher_is_the_running_average():
    """With the mean teacher the target is D_ema's softmax (train mode), without gradient."""
    m = _model(input_noise=0.0, hidden_noise=0.0, consistency=1.0, consistency_teacher="ema")
    batch = next(SemiSupervised(_dataset(), 9).loader(32, seed=0))
    m.loss("D", batch, m.nets)
    D, avg = m.nets["D"], m.nets["D_ema"]
    with torch.no_grad():
        for p in avg.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = batch["real"]
    logits = D(x).float()
    c = m._consistency(x, logits)
    want = (F.softmax(logits, 1) - F.softmax(avg(x), 1)).square().sum(1).mean()
    assert torch.allclose(c, want) and c.item() > 1e-4
    c.backward()
    assert all(p.grad is None for p in avg.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters())
    with pytest.raises(ConfigError, match="d_ema"):
        _model(consistency=1.0, d_ema=0.0, consistency_teacher="ema")
    assert "D_ema" not in _model(consistency=1.0, d_ema=0.0).nets


def test_consistency_ramp_up_and_training_makes_d_shift_invariant():
    m = _model(consistency=1.0, consistency_rampup=100)
    m.on_step_start(0, 0)
    assert m._ramp() == pytest.approx(math.exp(-5))
    m.on_step_start(50, 0)
    assert m._ramp() == pytest.approx(math.exp(-1.25))
    m.on_step_start(100, 0)
    assert m._ramp() == 1.0 and _model(consistency=1.0)._ramp() == 1.0
    # minimising the penalty alone makes D's classes agree across shifts
    torch.manual_seed(0)
    m = _model(shift=2, input_noise=0.0, hidden_noise=0.0, consistency=1.0,
               consistency_teacher="self")
    batch = next(SemiSupervised(_dataset(), 9).loader(64, seed=0))
    m.loss("D", batch, m.nets)
    D, x = m.nets["D"], batch["real"]
    opt = torch.optim.Adam(D.parameters(), 1e-2)

    def gap():
        torch.manual_seed(5)
        with torch.no_grad():
            return m._consistency(x, D(m._shift(x)).float()).item()

    before = gap()
    for _ in range(30):
        c = m._consistency(x, D(m._shift(x)).float())
        opt.zero_grad()
        c.backward()
        opt.step()
    assert gap() < 0.3 * before, (before, gap())


def test_consistency_teacher_runs_with_its_noise():
    """The teacher's view is a noisy one (train mode) even when it is kept in eval mode, and
    its mode is restored: with noise but no shift, an eval-mode student and teacher with the
    same weights disagree only through the teacher's noise."""
    m = _model(input_noise=0.5, hidden_noise=0.5, consistency=1.0, consistency_teacher="ema")
    batch = next(SemiSupervised(_dataset(), 9).loader(32, seed=0))
    m.loss("D", batch, m.nets)
    D, avg = m.nets["D"], m.nets["D_ema"]
    avg.load_state_dict(D.state_dict())
    D.eval(), avg.eval()
    x = batch["real"]
    assert m._consistency(x, D(x).float()).item() > 1e-4
    assert not avg.training


def test_fm_std_penalises_a_collapsed_generator():
    """``fm_std`` adds the squared distance of the per-feature standard deviations: a G that
    draws one image for every z pays the whole spread of the real features."""
    m = _model(input_noise=0.0, hidden_noise=0.0, fm_std=2.0)
    batch = next(SemiSupervised(_dataset(), 9).loader(32, seed=0))
    m.loss("D", batch, m.nets)
    one = batch["real"][:1]
    nets = {**m.nets, "G": lambda z: one.expand(len(z), -1, -1, -1)}
    loss, logs = m.loss("G", batch, nets)
    _, f_real = m.nets["D"](batch["real"], return_features=True)
    _, f_one = m.nets["D"](one, return_features=True)
    fm = (f_real.mean(0) - f_one[0]).square().mean()
    spread = f_real.std(0).square().mean()
    assert spread > 1e-3
    assert torch.allclose(logs["fm_std"], spread, rtol=1e-4)
    assert torch.allclose(loss, fm + 2.0 * spread, rtol=1e-4)
    assert torch.allclose(_model(input_noise=0.0, hidden_noise=0.0).loss("G", batch, {
        **nets, "D": m.nets["D"]})[0], fm, rtol=1e-4)
