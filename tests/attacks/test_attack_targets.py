"""Loading target classifiers: TorchScript files are checked before any attack runs."""
import pytest
import torch
from torch import nn

from gankit.attacks.targets import Target, load_target, probe
from gankit.errors import GankitError


def save(module, path):
    torch.jit.script(module).save(str(path))
    return path


def test_torchscript_target_loads_frozen(scripted):
    t = load_target(str(scripted))
    assert isinstance(t, Target) and t.digest
    assert probe(t, 1, 8) == 2
    assert all(not p.requires_grad for p in t.parameters())
    t.train()
    assert not t.training  # a target never leaves inference mode
    x = torch.rand(3, 1, 8, 8, requires_grad=True)
    t(x).sum().backward()  # gradients reach the input
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_missing_file(tmp_path):
    with pytest.raises(GankitError, match="does not exist"):
        load_target(str(tmp_path / "nope.pt"))


def test_not_torchscript(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(GankitError, match="not a TorchScript file"):
        load_target(str(bad))
    state = tmp_path / "state.pt"  # a plain state dict is not a module either
    torch.save({"w": torch.zeros(2)}, state)
    with pytest.raises(GankitError, match="not a TorchScript file"):
        load_target(str(state))


class Flat(nn.Module):
    def forward(self, x):
        return x.flatten(1).mean(1)  # N, not N x K


class OneClass(nn.Module):
    def forward(self, x):
        return x.flatten(1).mean(1, keepdim=True)  # N x 1


class RGBOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 1)

    def forward(self, x):
        return self.conv(x).mean((2, 3))


@pytest.mark.parametrize("module,match", [(Flat(), "must return logits of shape N x K"),
                                          (OneClass(), "must return logits of shape N x K"),
                                          (RGBOnly(), "fails on images 2 x 1 x 8 x 8")])
def test_wrong_shapes_are_refused(module, match, tmp_path):
    t = load_target(str(save(module, tmp_path / "m.pt")))
    with pytest.raises(GankitError, match=match):
        probe(t, 1, 8)


def test_untrained_and_named_targets():
    t = load_target("untrained:3", channels=3)
    assert probe(t, 3, 12) == 10
    torch.testing.assert_close(t(torch.ones(1, 3, 12, 12)),
                               load_target("untrained:3", channels=3)(torch.ones(1, 3, 12, 12)))
    with pytest.raises(GankitError, match="seed"):
        load_target("untrained:x")
    with pytest.raises(GankitError, match="no target"):
        load_target("")
