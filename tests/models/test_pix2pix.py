import pytest
import torch

from gankit.config import TrainConfig
from gankit.data.base import DataInfo
from gankit.data.paired import synthetic_paired
from gankit.errors import ConfigError, DataError, GankitError
from gankit.models.base import anneal_last
from gankit.models.pix2pix import Pix2Pix



def make(**kw):
    cfg = Pix2Pix.Config(**{"ngf": 4, "ndf": 4, **kw})
    return Pix2Pix(cfg, DataInfo("paired", 3, 16))


def batch(n=4, seed=0):
    return synthetic_paired(n, 3, 16, seed=seed).get_batch(torch.arange(n), torch.Generator(),
                                                            "cpu")


def test_phases_and_nets():
    m = make()
    assert [p.name for p in m.phases(TrainConfig())] == ["G", "D"]
    assert set(m.nets) == {"G", "D"} and m.generator_nets == ("G",)
    # D is conditional: it sees input and output concatenated (2 x 3 channels)
    assert m.nets["D"].model[0].in_channels == 6
    base = make(adv_weight=0.0)
    assert set(base.nets) == {"G"} and [p.name for p in base.phases(TrainConfig())] == ["G"]
    with pytest.raises(DataError):
        Pix2Pix(Pix2Pix.Config(), DataInfo("unpaired", 3, 16))
    with pytest.raises(ConfigError, match="power-of-two"):
        Pix2Pix(Pix2Pix.Config(), DataInfo("paired", 3, 24))


def test_generator_loss_is_adversarial_plus_lambda_l1():
    torch.manual_seed(0)
    m = make(lambda_l1=100.0)
    m.eval()  # no dropout: recompute the same output below
    b = batch()
    loss, logs = m.loss("G", b, m.nets)
    fake = m.nets["G"](b["A"])
    l1 = (fake - b["B"]).abs().mean()
    logits = m.nets["D"](torch.cat([b["A"], fake], 1))
    adv = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    torch.testing.assert_close(loss, adv + 100 * l1)
    torch.testing.assert_close(logs["l1"], l1.detach())


def test_discriminator_loss_is_halved_and_uses_g_phase_output():
    torch.manual_seed(0)
    m = make()
    b = batch()
    m.loss("G", b, m.nets)
    cached = m._cache[1]
    b2 = batch(seed=3)  # the trainer gives each phase its own batch
    loss, logs = m.loss("D", b2, m.nets)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    lr = m.nets["D"](torch.cat([b2["A"], b2["B"]], 1))
    lf = m.nets["D"](torch.cat([b["A"], cached], 1))  # the G phase's (input, output) pairs
    expect = 0.5 * (bce(lr, torch.ones_like(lr)) + bce(lf, torch.zeros_like(lf)))
    torch.testing.assert_close(loss, expect)
    # on its own (no G phase before), D makes its fake itself
    loss2, _ = m.loss("D", batch(seed=1), m.nets)
    assert torch.isfinite(loss2)


def test_l1_baseline_learns_a_simple_mapping():
    torch.manual_seed(0)
    m = make(adv_weight=0.0, dropout=0.0, norm="instance", ngf=8)
    ds = synthetic_paired(8, 3, 16)
    opt = torch.optim.Adam(m.nets["G"].parameters(), 2e-3, betas=(0.5, 0.999))
    loader = ds.loader(8)
    first = None
    for _ in range(100):
        loss, logs = m.loss("G", next(loader), m.nets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first if first is not None else float(logs["l1"])
    assert float(logs["l1"]) < 0.6 * first


def test_translate_and_sample_grid():
    m = make()
    b = batch()
    out = m.translate(b["A"])
    assert out.shape == b["A"].shape
    with pytest.raises(GankitError, match="one direction"):
        m.translate(b["A"], "BtoA")
    with pytest.raises(GankitError, match="expected images"):
        m.translate(b["A"][:, :1])
    with pytest.raises(GankitError, match="multiples of"):
        m.translate(b["A"][:, :, :-2, :-2])
    with pytest.raises(GankitError, match="translate"):
        m.generate(torch.zeros(1, 1))
    m.eval()
    grid = m.preview(None, None, b, dict(m.nets))
    assert m.preview_nrow == 3 and grid.shape == (12, 3, 16, 16)
    torch.testing.assert_close(grid[0], b["A"][0])
    torch.testing.assert_close(grid[1], m.nets["G"](b["A"])[0])
    torch.testing.assert_close(grid[2], b["B"][0])


def test_lr_schedule_constant_then_linear_to_zero():
    m = make(decay_start=0.5)
    assert m.lr_factor(0, 100) == 1.0 and m.lr_factor(49, 100) == 1.0
    assert m.lr_factor(75, 100) == pytest.approx(0.5)
    assert m.lr_factor(100, 100) == 0.0
    assert anneal_last(10, 100, 0.0) == 1.0 and anneal_last(120, 100, 0.5) == 0.0
