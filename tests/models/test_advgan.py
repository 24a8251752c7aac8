"""advgan: the perturbation bound, its losses, the frozen target kept out of the weights."""
import pytest
import torch

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.errors import ConfigError, GankitError
from gankit.registry import MODELS

INFO = DataInfo("image", 1, 8, 10)


def make(**model):
    raw = {"model": {"name": "advgan", "target": "untrained", "ngf": 4, "ndf": 4,
                     "n_blocks": 1, **model}}
    return MODELS.get("advgan")(config_from_dict(raw).model, INFO)


def batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"real": torch.rand(n, 1, 8, 8, generator=g) * 2 - 1,
            "label": torch.randint(0, 10, (n,), generator=g)}


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_perturbation_never_exceeds_eps(eps):
    m = make(eps=eps)
    with torch.no_grad():  # saturate G's tanh: the bound must hold by construction
        for p in m.nets["G"].parameters():
            p.mul_(50)
    x01 = (batch()["real"] + 1) / 2
    x01[0] = 0
    x01[1] = 1
    adv = m.attack(x01)
    assert (adv - x01).abs().max() <= eps + 1e-7
    assert adv.min() >= 0 and adv.max() <= 1


def test_losses_and_phases():
    m = make(kappa=1.0)
    nets = dict(m.nets.items())
    phases = m.phases(config_from_dict({}).train)
    assert [p.name for p in phases] == ["D", "G"] and phases[0].keep == ("G",)
    m.on_step_start(0, 0)
    loss_d, logs_d = m.loss("D", batch(), nets)
    assert torch.isfinite(loss_d) and {"loss_d", "d_real", "d_fake"} <= set(logs_d)
    loss_g, logs = m.loss("G", {}, nets)
    assert {"attack", "gan", "hinge", "success", "l2", "linf"} <= set(logs)
    assert logs["linf"] <= 0.3 + 1e-6 and 0 <= logs["success"] <= 1
    loss_g.backward()  # reaches G through the kept graph, never the frozen target
    assert any(p.grad is not None for p in m.nets["G"].parameters())
    assert all(p.grad is None for p in m.target_net().parameters())
    with pytest.raises(RuntimeError, match="after its D phase"):
        m.loss("G", {}, nets)  # the kept graph is used once


def test_target_is_not_part_of_the_weights():
    m = make()
    m.target_net()
    assert not any(k.startswith("_target") or "target" in k for k in m.state_dict())
    assert m.extra_state()["target"] == "untrained"


def test_targeted_class_out_of_range_and_no_sampling():
    m = make(target_class=12)
    with pytest.raises(ConfigError, match="target_class=12"):
        m.loss("D", batch(), dict(m.nets.items()))
    with pytest.raises(GankitError, match="gankit attack"):
        make().generate(torch.zeros(1, 1))
    with pytest.raises(ConfigError, match="divisible by 4"):
        MODELS.get("advgan")(config_from_dict({"model": {"name": "advgan"}}).model,
                             DataInfo("image", 1, 10, 10))


def test_preview_rows():
    m = make()
    out = m.preview(None, None, batch(8), {"G": m.nets["G"]})
    assert out.shape == (24, 1, 8, 8) and m.preview_nrow == 3
    assert out.min() >= -1 and out.max() <= 1


@pytest.mark.parametrize("target_class", [-1, 3])
def test_success_is_counted_against_the_goal(target_class):
    m = make(target_class=target_class)
    nets = dict(m.nets.items())
    m.on_step_start(0, 0)
    b = batch(16)
    m.loss("D", b, nets)
    adv01 = m._stash[0].detach()
    _, logs = m.loss("G", {}, nets)
    pred = m.target_net()(adv01).argmax(1)
    want = (pred == 3) if target_class == 3 else (pred != b["label"])
    assert float(logs["success"]) == pytest.approx(float(want.float().mean()))


@pytest.mark.slow
def test_mnist_advgan_fools_the_mnist_net(data_root, tmp_path, monkeypatch):
    """500 steps of the preset (about 45 CPU-seconds) already fool gankit's MNIST net on
    most test digits at eps 0.3 (the full preset: 99.1%, benchmarks/adversarial)."""
    from gankit.attacks.runner import load_inputs, load_source, make_methods, run_attacks
    from gankit.config import load_config
    from gankit.metrics.mnist_net import default_weights_path
    from gankit.train.trainer import train

    monkeypatch.setenv("GANKIT_DATA", str(data_root))
    if not default_weights_path("mnist").is_file():
        pytest.skip("gankit's MNIST net is not trained: gankit evaluate train-feature-net mnist")
    cfg = load_config("mnist-advgan", ["train.steps=500", "train.threads=1",
                                       "train.progress=false", "train.sample_every=0",
                                       "train.checkpoint_every=0"])
    run = train(cfg, tmp_path / "run")
    src = load_source(str(run))
    inputs = load_inputs("mnist:test", 1, 28, 500)
    methods = make_methods(src.target, ["advgan"], advgan=src.advgan, target_class=None,
                           pgd_steps=1, restarts=1, seed=0)
    report = run_attacks(src.target, inputs, methods, 0.3, None)
    row = report["methods"]["advgan"]
    assert row["success_rate"] > 0.9
    assert row["linf_max"] <= 0.3 + 1e-6
