"""The latent tools on the real style-based and progressive models, when they are registered
(they come from other branches; these tests skip until then)."""
import pytest
import torch

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.models.base import build_model
from gankit.registry import MODELS
from gankit.sampling.loading import Generator


def built(name, resolution=16):
    if name not in MODELS:
        pytest.skip(f"model {name!r} is not registered on this branch yet")
    cls = MODELS.get(name)
    cfg = config_from_dict({"model": {"name": name, **cls.contract_overrides}})
    model = build_model(cfg.model, DataInfo(kind="image", channels=1, resolution=resolution))
    with torch.no_grad():  # untrained: give the constant input and noise some structure
        for n, p in model.named_parameters():
            if n.endswith(".const") or "noise.weight" in n:
                p.copy_(torch.randn_like(p) * 0.5)
    model.eval()
    gens = {n: model.nets[n] for n in model.generator_nets}
    return Generator(model, gens, cfg, None, 0, torch.device("cpu"))


def test_stylegan_mixing_and_truncation_grids():
    from gankit.sampling.grids import mixing_grid, truncation_grid

    gen = built("stylegan")
    assert {"mix", "truncate"} <= gen.capabilities
    num_ws = gen.model.num_ws
    images, ncol = mixing_grid(gen, [0, 1], [5, 6, 7])
    assert ncol == 4 and images.shape == (12, 1, 16, 16)
    # every style input from the column seed: the cell is the column image itself
    every, _ = mixing_grid(gen, [0], [5, 6], mix_layers=(0, num_ws))
    assert torch.allclose(every[4:6], every[1:3], atol=1e-5)
    none_mixed, _ = mixing_grid(gen, [0], [5, 6], mix_layers=(num_ws - 1, num_ws))
    assert not torch.allclose(none_mixed[4], none_mixed[1], atol=1e-3)
    rows, _ = truncation_grid(gen, [0, 1, 2], [1.0, 0.0])
    assert torch.allclose(rows[3], rows[4], atol=1e-5)  # psi = 0: the mean w for every seed
    assert not torch.allclose(rows[0], rows[1], atol=1e-3)


@pytest.mark.parametrize("name", ["stylegan", "progan"])
def test_interpolate_edit_project_on_other_generators(name):
    from gankit.sampling import interpolate, project, walk

    gen = built(name)
    frames = interpolate(gen, [1, 2], 4)
    assert torch.allclose(frames[-1], gen.generate([2])[0], atol=1e-5)
    d = torch.zeros(gen.model.latent_dim)
    d[0] = 1
    images, ncol = walk(gen, [0, 1], d, [-2, 0, 2])
    assert images.shape[0] == 6 and torch.allclose(images[1], gen.generate([0])[0], atol=1e-5)
    res = project(gen, gen.generate([99]), steps=15, n_init=2)
    assert res.final_mse < res.initial_mse
