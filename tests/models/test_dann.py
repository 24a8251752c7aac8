"""dann: the paper's schedules, the reversed domain gradient, data checks, classify/features."""
import math

import pytest
import torch

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.errors import DataError
from gankit.models.base import build_model
from gankit.models.dann import dann_lambda, dann_lr_factor
from gankit.train.trainer import Trainer


def make(**model):
    cfg = config_from_dict({"model": {"name": "dann", "width": 0.25, **model}})
    return build_model(cfg.model, DataInfo("domains", 3, 16, 10))


def batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"real": torch.rand(n, 3, 16, 16, generator=g) * 2 - 1,
            "label": torch.randint(0, 10, (n,), generator=g),
            "target": torch.rand(n + 2, 3, 16, 16, generator=g) * 2 - 1}


def test_schedules_are_the_papers():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert dann_lambda(1.0) == pytest.approx(0.99991, abs=1e-5)
    assert dann_lr_factor(0.0) == 1.0
    assert dann_lr_factor(1.0) == pytest.approx(11 ** -0.75)
    assert dann_lr_factor(0.3, alpha=0.0) == 1.0


def test_trainer_drives_lambda_and_lr_through_the_hooks(tmp_path):
    cfg = config_from_dict({
        "model": {"name": "dann", "width": 0.25, "lambda_max": 0.5},
        "data": {"dataset": "domains:synthetic:32,synthetic:24", "resolution": 16},
        "train": {"steps": 10, "batch_size": 4, "lr_g": 0.01, "lr_d": 0.02, "progress": False,
                  "threads": 1, "sample_every": 0, "checkpoint_every": 0}})
    trainer = Trainer(cfg, tmp_path / "run")
    model = trainer.model
    assert model.info.kind == "domains" and model.info.channels == 1  # both grey: stay grey
    trainer.step = 4
    window = {}
    trainer._train_step(window, want_norms=False)
    assert model.lambd == pytest.approx(0.5 * dann_lambda(0.4))
    opt = trainer.optimizers["FCD"]
    lrs = sorted(g["lr"] for g in opt.param_groups)  # F+C at lr_g, D at lr_d, annealed
    assert lrs == pytest.approx([0.01 * dann_lr_factor(0.4), 0.02 * dann_lr_factor(0.4)])
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    for key in ("loss_c", "loss_d", "label_acc", "domain_acc", "lambda"):
        assert key in window


def _grads(net):
    return [p.grad.clone() for p in net.parameters()]


def test_features_get_the_label_gradient_minus_lambda_times_the_domain_gradient():
    torch.manual_seed(0)
    model = make()
    nets = dict(model.nets.items())
    b = batch()
    model.lambd = 0.3
    loss, logs = model.loss("FCD", b, nets)
    loss.backward()
    got_f, got_d = _grads(model.nets["F"]), _grads(model.nets["D"])
    # the same quantities by plain autograd, without a reversal layer
    n = b["real"].shape[0]
    f = model.nets["F"](torch.cat([b["real"], b["target"]]))
    loss_c = torch.nn.functional.cross_entropy(model.nets["C"](f[:n]), b["label"])
    dom = torch.cat([torch.zeros(n), torch.ones(b["target"].shape[0])])
    per = torch.nn.functional.binary_cross_entropy_with_logits(
        model.nets["D"](f).squeeze(1), dom, reduction="none")
    loss_d = per[:n].mean() + per[n:].mean()  # each domain's mean, as in the paper
    params_f, params_d = list(model.nets["F"].parameters()), list(model.nets["D"].parameters())
    g_c = torch.autograd.grad(loss_c, params_f, retain_graph=True)
    g_d = torch.autograd.grad(loss_d, params_f + params_d)
    for got, c, d in zip(got_f, g_c, g_d[:len(params_f)]):
        torch.testing.assert_close(got, c - 0.3 * d)
    for got, d in zip(got_d, g_d[len(params_f):]):  # D itself descends the domain loss
        torch.testing.assert_close(got, d)
    assert float(logs["loss_c"]) == pytest.approx(float(loss_c.detach()), rel=1e-5)
    assert float(logs["loss_d"]) == pytest.approx(float(loss_d.detach()), rel=1e-5)


def test_source_only_keeps_the_domain_gradient_out_of_the_features():
    torch.manual_seed(0)
    model = make(lambda_max=0.0)
    model.on_step_start(50, 0)
    assert model.lambd == 0.0
    nets = dict(model.nets.items())
    b = batch()
    loss, _ = model.loss("FCD", b, nets)
    loss.backward()
    got = _grads(model.nets["F"])
    model.zero_grad()
    n = b["real"].shape[0]
    f = model.nets["F"](torch.cat([b["real"], b["target"]]))
    torch.nn.functional.cross_entropy(model.nets["C"](f[:n]), b["label"]).backward()
    for a, c in zip(got, _grads(model.nets["F"])):
        torch.testing.assert_close(a, c)


def test_classify_features_and_domain_logits_shapes_in_eval_mode():
    model = make(dropout=0.5, batch_norm=True)
    x = torch.rand(7, 3, 16, 16) * 2 - 1
    assert model.classify(x, batch_size=3).shape == (7, 10)
    feats = model.features(x)
    assert feats.shape == (7, model.nets["F"].dim)
    assert model.domain_logits(feats).shape == (7,)
    torch.testing.assert_close(model.classify(x), model.classify(x))  # no dropout at eval
    assert all(m.training for m in model.nets.values())  # modes restored


def test_data_errors_say_what_to_use():
    with pytest.raises(DataError, match="at least 16"):
        cfg = config_from_dict({"model": {"name": "dann"}})
        build_model(cfg.model, DataInfo("domains", 3, 12, 10))
    with pytest.raises(DataError, match="domains"):
        build_model(config_from_dict({"model": {"name": "dann"}}).model,
                    DataInfo("image", 3, 28, 10))
    model = make()
    b = batch()
    del b["target"]
    with pytest.raises(DataError, match="domains:SOURCE,TARGET"):
        model.loss("FCD", b, dict(model.nets.items()))


def test_input_norm_makes_features_blind_to_per_channel_colour_and_contrast():
    model = make(input_norm=True)
    x = torch.rand(5, 3, 16, 16) * 2 - 1
    shifted = x * torch.tensor([0.5, 2.0, 1.5]).view(1, 3, 1, 1) + \
        torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1)
    torch.testing.assert_close(model.features(shifted), model.features(x), atol=2e-3, rtol=1e-3)
    plain = make()
    assert not torch.allclose(plain.features(shifted), plain.features(x), atol=1e-2)


def test_bottleneck_and_d_hidden_shape_what_c_and_d_see():
    model = make(bottleneck=24, d_hidden=3, batch_norm=True)
    assert model.nets["F"].dim == 24
    x = torch.rand(6, 3, 16, 16) * 2 - 1
    feats = model.features(x)
    assert feats.shape == (6, 24) and (feats >= 0).all()  # the bottleneck's ReLU
    linears = [m for m in model.nets["D"].modules() if isinstance(m, torch.nn.Linear)]
    assert [m.in_features for m in linears] == [24, 25, 25, 25]  # width 0.25: 100 -> 25
    assert model.nets["C"][0].in_features == 24
    # without a bottleneck F's state keys are those of earlier checkpoints
    assert set(make().nets["F"].state_dict()) == {"net.0.weight", "net.0.bias",
                                                  "net.4.weight", "net.4.bias"}


def test_extra_d_steps_update_d_alone_on_detached_features(tmp_path):
    cfg = config_from_dict({
        "model": {"name": "dann", "width": 0.25, "d_steps": 2},
        "data": {"dataset": "domains:synthetic:32,synthetic:24", "resolution": 16,
                 "channels": 3},
        "train": {"steps": 3, "batch_size": 4, "lr_g": 0.01, "lr_d": 0.02, "progress": False,
                  "threads": 1, "sample_every": 0, "checkpoint_every": 0}})
    trainer = Trainer(cfg, tmp_path / "run")
    model = trainer.model
    assert [(p.name, p.repeats, p.group) for p in trainer.phases] == [("Dx", 2, "FCD"),
                                                                      ("FCD", 1, "FCD")]
    assert list(trainer.optimizers) == ["FCD"]  # one optimizer, D at lr_d
    # the Dx loss is the domain loss of D on F's features, with no gradient into F or C
    b = batch()
    loss, logs = model.loss("Dx", b, dict(model.nets.items()))
    loss.backward()
    assert all(p.grad is None for k in ("F", "C") for p in model.nets[k].parameters())
    assert all(p.grad is not None for p in model.nets["D"].parameters())
    assert 0 <= float(logs["dx_domain_acc"]) <= 1
    model.zero_grad(set_to_none=True)
    before = {k: [p.detach().clone() for p in model.nets[k].parameters()] for k in "FCD"}
    calls, loss_fn = [], model.loss
    model.loss = lambda phase, b, nets: calls.append(phase) or loss_fn(phase, b, nets)
    trainer.step = 0
    trainer._train_step({}, want_norms=False)
    assert calls == ["Dx", "Dx", "FCD"]
    changed = {k: any(not torch.equal(a, p) for a, p in zip(before[k],
                                                             model.nets[k].parameters()))
               for k in "FCD"}
    assert changed == {"F": True, "C": True, "D": True}
