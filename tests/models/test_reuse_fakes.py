"""model.reuse_fakes: the G phase backpropagates through the D phase's fakes (one G forward
per step) and the trainer gives it no data batch (Phase.keep / Phase.batch=False)."""
from pathlib import Path

import pytest
import torch

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.registry import MODELS
from gankit.train.trainer import Trainer

INFO = DataInfo("image", channels=1, resolution=28, num_classes=0)


def _model(**over):
    raw = {"model": {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8, "d_norm": "none", **over},
           "data": {"dataset": "synthetic:64"}}
    return MODELS.get("dcgan")(config_from_dict(raw).model, INFO)


def test_g_phase_scores_the_d_phase_fakes_with_the_updated_d():
    torch.manual_seed(0)
    m = _model()
    G, D = m.nets["G"], m.nets["D"]
    zs = []
    draw = m.noise.randn
    m.noise.randn = lambda *shape: zs.append(draw(*shape)) or zs[-1]
    m.on_step_start(0, 0)
    loss_d, _ = m.loss("D", {"real": torch.rand(6, 1, 28, 28) * 2 - 1}, m.nets)
    loss_d.backward()
    assert all(p.grad is None for p in G.parameters())  # D's loss sees detached fakes
    with torch.no_grad():  # a D update between the phases, as the trainer makes
        for p in D.parameters():
            p -= 0.5 * p.grad
    loss_g, _ = m.loss("G", {}, m.nets)
    loss_g.backward()
    assert len(zs) == 1  # G drew no new latents
    got = [p.grad.clone() for p in G.parameters()]
    # the same z through G again and the updated D: the loss and G's gradient must match
    G.zero_grad()
    ref = m.adv.g_loss(D(G(zs[0])))
    ref.backward()
    assert torch.allclose(loss_g, ref, atol=1e-6)
    for a, p in zip(got, G.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)
    with pytest.raises(RuntimeError, match="reuse_fakes"):  # the kept graph is used once
        m.loss("G", {}, m.nets)


def _one_step(tmp_path: Path, reuse: bool, d_steps: int = 1):
    cfg = config_from_dict({
        "model": {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8, "reuse_fakes": reuse},
        "data": {"dataset": "synthetic:64"},
        "train": {"batch_size": 8, "steps": 2, "progress": False, "d_steps": d_steps}})
    tr = Trainer(cfg, tmp_path / f"run-{reuse}-{d_steps}")
    calls = {"G": 0, "batches": 0}
    tr.model.nets["G"].register_forward_hook(lambda *_: calls.__setitem__("G", calls["G"] + 1))
    loader = tr.loader

    class Counting:
        def __next__(self):
            calls["batches"] += 1
            return next(loader)

    tr.loader = Counting()
    tr._train_step({}, False)
    return calls


@pytest.mark.parametrize("d_steps", [1, 3])
def test_one_g_forward_and_no_g_batch_per_step(tmp_path, d_steps):
    assert _one_step(tmp_path, True, d_steps) == {"G": d_steps, "batches": d_steps}
    assert _one_step(tmp_path, False, d_steps) == {"G": d_steps + 1, "batches": d_steps + 1}
