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
