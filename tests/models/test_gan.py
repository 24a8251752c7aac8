"""The MLP `gan` model: per-network LeakyReLU slopes (model.g_slope / model.d_slope)."""
import pytest
import torch
from torch import nn

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.errors import ConfigError
from gankit.registry import MODELS

POINTS = DataInfo("points", channels=0, resolution=0, dim=2)


def _model(tmp_path, **over):
    raw = {"model": {"name": "gan", "g_hidden": [16, 16], "d_hidden": [16], "z_dim": 4, **over},
           "data": {"dataset": "ring8"}}
    cfg = config_from_dict(raw).model
    return MODELS.get("gan")(cfg, POINTS)


def _slopes(net: nn.Module) -> set[float]:
    return {m.negative_slope for m in net.modules() if isinstance(m, nn.LeakyReLU)}


def test_shared_slope_by_default(tmp_path):
    m = _model(tmp_path, slope=0.1)
    assert _slopes(m.nets["G"]) == {0.1} and _slopes(m.nets["D"]) == {0.1}


def test_separate_slopes(tmp_path):
    # ReLU generator, LeakyReLU 0.2 discriminator; the unset side keeps model.slope
    m = _model(tmp_path, slope=0.3, g_slope=0.0, d_slope=0.2)
    assert _slopes(m.nets["G"]) == {0.0} and _slopes(m.nets["D"]) == {0.2}
    m = _model(tmp_path, slope=0.3, g_slope=0.0)
    assert _slopes(m.nets["G"]) == {0.0} and _slopes(m.nets["D"]) == {0.3}
    # a ReLU G really is a ReLU: negative pre-activations give exactly 0
    act = next(x for x in m.nets["G"].modules() if isinstance(x, nn.LeakyReLU))
    assert torch.equal(act(torch.tensor([-2.0, 3.0])), torch.tensor([0.0, 3.0]))


def test_negative_slope_rejected(tmp_path):
    with pytest.raises(ConfigError, match="g_slope"):
        _model(tmp_path, g_slope=-0.5)


def test_g_norm_batch_puts_batch_norm_after_each_hidden_layer_of_g_only(tmp_path):
    plain = _model(tmp_path)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in plain.modules())
    m = _model(tmp_path, g_norm="batch")
    layers = list(m.nets["G"].net)
    bns = [i for i, x in enumerate(layers) if isinstance(x, nn.BatchNorm1d)]
    assert len(bns) == 2 and all(isinstance(layers[i - 1], nn.Linear) for i in bns)
    assert not any(isinstance(x, nn.BatchNorm1d) for x in m.nets["D"].modules())
    with pytest.raises(ConfigError, match="g_norm"):
        _model(tmp_path, g_norm="layer")


def test_info_codes_off_by_default_keeps_the_networks_unchanged(tmp_path):
    m = _model(tmp_path)
    assert m.nets["G"].net[0].in_features == 4
    assert not any(k.startswith("q.") for k in m.nets["D"].state_dict())


def test_info_codes_one_hot_latent_and_q_head(tmp_path):
    from gankit.models.gan import latent_codes

    m = _model(tmp_path, info_codes=5)
    G, D = m.nets["G"], m.nets["D"]
    assert G.net[0].in_features == 5 + 3  # one-hot code + the other z_dim - 1 coordinates
    # z ~ N(0, I) gives equally likely codes
    counts = torch.bincount(latent_codes(torch.randn(50_000, 4), 5), minlength=5)
    assert (counts - 10_000).abs().max() < 400
    # G reads the first coordinate only through its code
    z = torch.randn(1, 4).repeat(2, 1)
    z[1, 0] = z[0, 0] + 1e-4
    if latent_codes(z, 5)[0] == latent_codes(z, 5)[1]:
        assert torch.equal(G(z)[0], G(z)[1])
    z[1, 0] = -z[0, 0] if z[0, 0].abs() > 0.5 else z[0, 0] + 2.0
    assert latent_codes(z, 5)[0] != latent_codes(z, 5)[1]
    assert not torch.equal(G(z)[0], G(z)[1])
    assert D.code_logits(torch.randn(3, 2)).shape == (3, 5)
    with pytest.raises(ConfigError, match="info_codes"):
        _model(tmp_path, info_codes=5, z_dim=1)


def test_info_loss_trains_q_in_the_d_phase_and_g_in_the_g_phase(tmp_path):
    import torch.nn.functional as F

    from gankit.models.gan import latent_codes

    def step(weight):
        torch.manual_seed(0)
        m = _model(tmp_path, info_codes=3, info_weight=weight, d_dropout=0.0)
        m.on_step_start(0, 0)
        loss_d, logs = m.loss("D", {"real": torch.randn(8, 2)}, m.nets)
        loss_d.backward()
        q_grad = m.nets["D"].q.weight.grad.clone()  # Q learns in the D phase
        z, x = m._info  # the D phase's latents and fakes, kept for the G phase
        loss_g, logs_g = m.loss("G", {}, m.nets)
        D = m.nets["D"]
        ce = F.cross_entropy(D.code_logits(x), latent_codes(z, 3))
        assert torch.allclose(loss_g, m.adv.g_loss(D(x)) + weight * ce)
        assert torch.allclose(logs["info"], logs_g["info"])  # no D update in between here
        for p_ in m.nets["G"].parameters():
            p_.grad = None
        loss_g.backward()
        return q_grad, [p_.grad.clone() for p_ in m.nets["G"].parameters()]

    q_grad, with_info = step(1.0)
    assert q_grad.abs().sum() > 0
    _, without = step(0.0)
    # the code loss reaches G through the same fakes
    assert any(not torch.allclose(a, b) for a, b in zip(with_info, without))


def test_info_g_stop_drops_the_code_loss_from_g_only_after_its_fraction(tmp_path):
    """``info_g_stop`` 0.5 of 10 steps: G's loss carries the code loss in steps 0-4 and not
    from step 5 on; D's phase (Q learning the code) keeps it throughout."""
    import torch.nn.functional as F

    from gankit.config import TrainConfig
    from gankit.models.gan import latent_codes

    m = _model(tmp_path, info_codes=3, info_g_stop=0.5, d_dropout=0.0)
    m.phases(TrainConfig(steps=10))
    D = m.nets["D"]
    for step, with_code in ((4, True), (5, False), (9, False)):
        m.on_step_start(step, 0)
        _, logs = m.loss("D", {"real": torch.randn(8, 2)}, m.nets)
        z, x = m._info
        ce = F.cross_entropy(D.code_logits(x), latent_codes(z, 3))
        assert torch.allclose(logs["info"], ce)  # D's phase: always
        loss_g, _ = m.loss("G", {}, m.nets)
        expected = m.adv.g_loss(D(x)) + (ce if with_code else 0)
        assert torch.allclose(loss_g, expected, atol=1e-6), step
    with pytest.raises(ConfigError):
        _model(tmp_path, info_codes=3, info_g_stop=1.5)


def test_r1_gamma_anneal_is_the_r1_weight_from_the_anneal_on(tmp_path):
    """``lr_decay`` 0.4 of 10 steps anneals from step 6: D's loss adds r1_gamma / 2 * R1 in
    steps 0-5 and r1_gamma_anneal / 2 * R1 from step 6 on; bad settings are config errors."""
    from gankit.config import TrainConfig

    m = _model(tmp_path, penalty="r1", r1_gamma=2.0, r1_gamma_anneal=0.5, lr_decay=0.4,
               d_dropout=0.0)
    m.phases(TrainConfig(steps=10))
    real = torch.randn(8, 2)
    for step, gamma in ((0, 2.0), (5, 2.0), (6, 0.5), (9, 0.5)):
        m.on_step_start(step, 0)
        loss, logs = m.loss("D", {"real": real}, m.nets)
        assert logs["r1"] > 0
        # the same reals and the fakes this D step drew (kept for the G phase)
        base = m.adv.d_loss(m.nets["D"](real), m.nets["D"](m._stash[0].detach()))
        assert torch.allclose(loss, base + 0.5 * gamma * logs["r1"], atol=1e-6), step
    for bad in ({"r1_gamma_anneal": 0.5, "lr_decay": 0.0},
                {"r1_gamma_anneal": -0.5, "lr_decay": 0.4},
                {"r1_gamma_anneal": 0.5, "lr_decay": 0.4, "penalty": "none"}):
        with pytest.raises(ConfigError):
            _model(tmp_path, **{"penalty": "r1", **bad})
