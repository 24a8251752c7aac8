"""A tiny trained classifier on 1 x 8 x 8 images, and its TorchScript file."""
import pytest
import torch
from attackkit import Tiny, halves
from torch import nn


@pytest.fixture(scope="session")
def tiny_classifier():
    """Trained to ~100% on ``halves`` in a fraction of a second; frozen, eval mode."""
    torch.manual_seed(0)
    model = Tiny()
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = halves(512)
    for _ in range(60):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval().requires_grad_(False)
    xt, yt = halves(256, seed=1)
    assert (model(xt).argmax(1) == yt).float().mean() > 0.97
    return model


@pytest.fixture
def scripted(tiny_classifier, tmp_path):
    """Path of the tiny classifier saved as TorchScript."""
    path = tmp_path / "tiny.pt"
    torch.jit.script(tiny_classifier).save(str(path))
    return path
