"""The generator EMA measures its own batch-norm statistics before it is used."""
import torch
from torch import nn

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.nn.average import recalibrate_batchnorm
from gankit.registry import MODELS
from gankit.train.ema import CALIBRATION_SAMPLES, CALIBRATION_SEED, EMA


def _dcgan():
    raw = {"model": {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8},
           "data": {"dataset": "synthetic:64"}}
    return MODELS.get("dcgan")(config_from_dict(raw).model,
                               DataInfo("image", channels=1, resolution=28))


def test_recalibrate_batchnorm_gives_the_exact_mean_over_batches():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 5), nn.BatchNorm1d(5))
    xs = [torch.randn(16, 3) for _ in range(4)]
    assert recalibrate_batchnorm(net, [lambda x=x: net(x) for x in xs])
    h = torch.stack([net[0](x).detach().mean(0) for x in xs]).mean(0)
    assert torch.allclose(net[1].running_mean, h, atol=1e-6)
    assert net[1].momentum == 0.1 and net.training  # restored
    assert not recalibrate_batchnorm(nn.Linear(2, 2), [])


def test_ema_refresh_measures_bn_statistics_on_the_average():
    torch.manual_seed(0)
    model = _dcgan()
    G = model.nets["G"]
    ema = EMA({"G": G}, decay=0.5)
    with torch.no_grad():  # the live G moves on; the average is now other weights
        for p in G.parameters():
            p.add_(torch.randn_like(p))
    ema.update({"G": G}, step=1)
    avg = ema.nets["G"]
    bn = next(m for m in avg.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.equal(bn.running_mean, next(m for m in G.modules()
                                             if isinstance(m, nn.BatchNorm2d)).running_mean)
    rng = torch.get_rng_state()
    ema.refresh(model)
    assert torch.equal(torch.get_rng_state(), rng)  # the training RNG is untouched
    # the first BN's statistics are those of the averaged first layer's outputs
    z = model.make_latents(list(range(CALIBRATION_SEED, CALIBRATION_SEED + CALIBRATION_SAMPLES)))
    with torch.no_grad():
        h = avg.net[0](z.view(len(z), -1, 1, 1))
    assert torch.allclose(bn.running_mean, h.mean((0, 2, 3)), atol=1e-5)
    assert not avg.training
    before = bn.running_mean.clone()
    ema.refresh(model)  # nothing changed since: no second measurement
    assert torch.equal(bn.running_mean, before)


def test_ema_rampup_grows_the_half_life_then_caps_it_at_decay():
    net = nn.Linear(2, 2)
    plain = EMA({"G": net}, decay=0.999, start=100)
    ramp = EMA({"G": net}, decay=0.999, start=100, rampup=0.1)
    assert plain.beta(99) == ramp.beta(99) == 0.0  # a copy before start
    assert plain.beta(100) == plain.beta(10_000) == 0.999  # default: unchanged behaviour
    # half-life = 0.1 x steps averaged: 10 steps after 100 averaged
    assert abs(ramp.beta(199) - 0.5 ** (1 / 10)) < 1e-12
    betas = [ramp.beta(s) for s in range(100, 20_000, 97)]
    assert all(a <= b for a, b in zip(betas, betas[1:]))  # the memory only grows
    assert betas[-1] == 0.999  # 0.999's half-life (693 steps) reached after 6,930 steps


def test_ema_rampup_average_follows_a_moving_net_more_closely_early():
    """Early in a run the ramped average is much nearer the live weights than the plain one."""
    torch.manual_seed(0)
    net = nn.Linear(4, 4)
    plain, ramp = (EMA({"G": net}, decay=0.999, rampup=r) for r in (0.0, 0.1))
    for step in range(300):
        with torch.no_grad():
            net.weight.add_(0.01)  # G drifts steadily
        plain.update({"G": net}, step)
        ramp.update({"G": net}, step)
    gap = {k: (e.nets["G"].weight - net.weight).abs().mean().item()
           for k, e in (("plain", plain), ("ramp", ramp))}
    assert gap["ramp"] < 0.2 * gap["plain"], gap
