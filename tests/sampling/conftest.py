"""Tiny trained runs and toy models for the latent-tool tests (mechanics, not quality)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.models.base import GANModel
from gankit.sampling import load_generator
from gankit.sampling.loading import Generator


def train_tiny(out, model: str):
    from gankit.train.trainer import train

    model_cfg = {"gan": {"name": "gan", "g_hidden": [64], "d_hidden": [64], "z_dim": 16}}[model]
    cfg = config_from_dict({
        "model": model_cfg,
        "data": {"dataset": "synthetic:64", "resolution": 16 if model == "gan" else 32},
        "train": {"steps": 12, "batch_size": 16, "log_every": 6, "sample_every": 12,
                  "checkpoint_every": 12, "progress": False, "threads": 1, "grid_size": 4}})
    return train(cfg, out)


@pytest.fixture(scope="session")
def gan_run(tmp_path_factory):
    """A 12-step MLP GAN on 16 px synthetic images: its output varies smoothly with z."""
    return train_tiny(tmp_path_factory.mktemp("latent") / "gan", "gan")


@pytest.fixture
def gan_gen(gan_run):
    return load_generator(gan_run, "cpu")


class ToyNet(nn.Module):
    """z (+ class embedding) -> 1 x 8 x 8 tanh image; traceable for ONNX."""

    def __init__(self, z_dim=6, classes=0, channels=1, res=8):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.lin = nn.Linear(z_dim, channels * res * res)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(self.lin.weight.shape, generator=g) * 0.5)
            self.lin.bias.copy_(torch.randn(self.lin.bias.shape, generator=g) * 0.1)
        self.emb = nn.Embedding(classes, z_dim) if classes else None
        if self.emb is not None:
            with torch.no_grad():
                self.emb.weight.copy_(torch.randn(self.emb.weight.shape, generator=g))
        self.shape = (channels, res, res)

    def forward(self, z, labels=None):
        if self.emb is not None:
            z = z + self.emb(labels)
        return torch.tanh(self.lin(z)).view(z.shape[0], *self.shape)


class ToyModel(GANModel):
    """A model that needs no training: conditional and/or "truncate"/"mix" on demand."""

    def __init__(self, caps=("sample",), classes=0, z_dim=6):
        cfg = config_from_dict({"model": {"name": "gan", "z_dim": z_dim}}).model
        super().__init__(cfg, DataInfo(kind="image", channels=1, resolution=8,
                                       num_classes=classes))
        self.capabilities = frozenset(caps)
        self.nets["G"] = ToyNet(z_dim, classes if "conditional" in caps else 0)
        self.calls = []

    def generate(self, z, labels=None, G=None, psi=1.0, mix_z=None, mix_layers=None,
                 **options):
        self.calls.append({"psi": psi, "mix_z": mix_z, "mix_layers": mix_layers})
        G = self.nets["G"] if G is None else G
        if psi != 1.0:  # truncation towards the mean latent 0
            z = z * psi
        if mix_z is not None:  # "styles": the first half of z from z, the rest from mix_z
            half = z.shape[1] // 2
            z = torch.cat([z[:, :half], mix_z[:, half:]], 1)
        return G(z, labels) if labels is not None else G(z)


def toy_generator(caps=("sample",), classes=0) -> Generator:
    model = ToyModel(caps, classes).eval()
    return Generator(model, {"G": model.nets["G"]}, config_from_dict(
        {"model": {"name": "gan", "z_dim": 6}}), None, 0, torch.device("cpu"))


@pytest.fixture
def make_toy():
    """Factory: ``make_toy(caps=("sample", "conditional"), classes=3)`` -> Generator."""
    return toy_generator
