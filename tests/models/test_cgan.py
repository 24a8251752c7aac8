"""cgan: shapes, both conditioning modes, penalties, and that G actually follows the label."""
import pytest
import torch

from gankit.config import load_config
from gankit.data.base import DataInfo, ImageDataset
from gankit.errors import ConfigError, DataError
from gankit.models.base import build_model
from loops import fit


def _model(**over):
    cfg = load_config({"model": {"name": "cgan", "z_dim": 8, "ngf": 8, "ndf": 8,
                                 "embed_dim": 4, **over}})
    return build_model(cfg.model, DataInfo("image", 1, 8, num_classes=3))


def _batch(n=6):
    return {"real": torch.rand(n, 1, 8, 8) * 2 - 1, "label": torch.arange(n) % 3}


@pytest.mark.parametrize("over", [
    {}, {"g_cond": "onehot", "d_cond": "channels"}, {"loss": "hinge", "spectral_norm": True},
    {"loss": "wasserstein", "penalty": "gp"}, {"loss": "lsgan", "penalty": "r1"}])
def test_losses_backprop(over):
    m = _model(**over)
    assert m.double_backward == (over.get("penalty", "none") != "none")
    for phase, net in (("D", "D"), ("G", "G")):
        loss, logs = m.loss(phase, _batch(), m.nets)
        assert loss.dim() == 0 and torch.isfinite(loss)
        m.zero_grad()
        loss.backward()
        assert all(p.grad is not None for p in m.nets[net].parameters() if p.requires_grad)
        assert f"loss_{phase.lower()}" in logs
    if over.get("penalty") in ("gp", "r1"):
        assert over["penalty"] in m.loss("D", _batch(), m.nets)[1]


def test_generate_needs_valid_labels():
    m = _model()
    m.eval()
    z = m.make_latents([0, 1, 2])
    assert m.generate(z, torch.tensor([0, 1, 2])).shape == (3, 1, 8, 8)
    with pytest.raises(ConfigError):
        m.generate(z)
    with pytest.raises(ConfigError):
        m.generate(z, torch.tensor([0, 1, 3]))
    assert m.sample_labels([4, 5]).tolist() == [1, 2]
    assert "conditional" in m.capabilities


def test_needs_labels():
    cfg = load_config({"model": {"name": "cgan"}})
    with pytest.raises(DataError, match="labelled"):
        build_model(cfg.model, DataInfo("image", 1, 8, num_classes=0))


def test_learns_class_conditional_images():
    """Class k = constant image of brightness -0.8, 0, 0.8: G must follow the label."""
    torch.manual_seed(0)
    levels = torch.tensor([-0.8, 0.0, 0.8])
    labels = torch.arange(300) % 3
    imgs = ((levels[labels].view(-1, 1, 1, 1) + 0.05 * torch.randn(300, 1, 8, 8))
            .clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8))
    ds = ImageDataset(imgs, labels)
    m = _model()
    fit(m, ds.loader(48, seed=0), steps=150, lr=2e-3)
    m.eval()
    with torch.no_grad():
        z = m.make_latents(list(range(60)))
        means = [m.generate(z, torch.full((60,), k)).mean().item() for k in range(3)]
    assert means[0] < means[1] < means[2]
    assert means[2] - means[0] > 0.8


def test_sample_cli_class_and_by_class_grid(tmp_path):
    import numpy as np
    from PIL import Image

    from gankit.cli import main
    from gankit.config import config_from_dict
    from gankit.train.trainer import train

    raw = {"model": {"name": "cgan", "z_dim": 8, "ngf": 8, "ndf": 8, "embed_dim": 4},
           "data": {"dataset": "synthetic:64", "resolution": 28, "labels": True},
           "train": {"steps": 2, "batch_size": 8, "sample_every": 0, "checkpoint_every": 0,
                     "grid_size": 20, "progress": False, "threads": 1}}
    run = train(config_from_dict(raw), tmp_path / "run")
    assert (run / "fakes_000002.png").exists()  # the class-by-row training grid
    assert main(["sample", str(run), "--seeds", "0-4", "--class", "3",
                 "--npz", str(tmp_path / "c3.npz"), "--out", str(tmp_path / "c3.png")]) == 0
    assert np.load(tmp_path / "c3.npz")["labels"].tolist() == [3] * 5
    assert main(["sample", str(run), "--seeds", "0-3", "--by-class",
                 "--npz", str(tmp_path / "g.npz"), "--out", str(tmp_path / "g.png")]) == 0
    g = np.load(tmp_path / "g.npz")
    assert g["labels"].tolist() == [k for k in range(10) for _ in range(4)]
    assert g["images"].shape == (40, 28, 28, 1)
    # 10 rows of 4 images of 28 px with 2 px padding
    assert Image.open(tmp_path / "g.png").size == (4 * 30 + 2, 10 * 30 + 2)
    assert main(["sample", str(run), "--class", "10", "--out", str(tmp_path / "x.png")]) == 2
