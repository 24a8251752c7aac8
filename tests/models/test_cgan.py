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
    {"cond_bn": True, "loss": "hinge"},
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
        # the trainer logs the phase's loss as loss_<phase>; the D phase adds D's outputs
        assert phase == "G" or {"d_real", "d_fake"} <= set(logs)
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


def test_cond_bn_carries_the_label_past_the_input():
    """With cond_bn the class reaches G's inner layers: zeroing the input embedding still
    leaves the output class-dependent; without it the classes would then look the same."""
    for cond_bn in (False, True):
        m = _model(cond_bn=cond_bn)
        G = m.nets["G"]
        with torch.no_grad():
            G.embed.weight.zero_()
            if cond_bn:
                G.bn1.gamma.weight.uniform_(0.5, 1.5)
                G.bn1.beta.weight.normal_()
        G.eval()
        z = m.make_latents([0, 1, 2, 3])
        a = m.generate(z, torch.zeros(4, dtype=torch.long))
        b = m.generate(z, torch.ones(4, dtype=torch.long))
        assert (a - b).abs().max().item() > 1e-3 if cond_bn else torch.equal(a, b)
    names = {n for n, _ in m.nets["G"].named_parameters()}
    assert {"bn0.gamma.weight", "bn1.beta.weight"} <= names


def test_projection_starts_comparable_to_the_plain_logit():
    """The class term <e_y, phi(x)> must not dwarf psi(phi(x)) at initialisation."""
    torch.manual_seed(0)
    m = _model(ndf=16)
    D = m.nets["D"]
    x, y = torch.rand(32, 1, 8, 8) * 2 - 1, torch.arange(32) % 3
    with torch.no_grad():
        h = D.features(x, y)
        plain = D.out(h).squeeze(1).std()
        proj = (D.embed(y) * h).sum(1).std()
    assert proj < 5 * plain, (proj, plain)


@pytest.mark.parametrize("cond_bn", [False, True])
def test_learns_class_conditional_images(cond_bn):
    """Class k = constant image of brightness -0.8, 0, 0.8: G must follow the label."""
    torch.manual_seed(0)
    levels = torch.tensor([-0.8, 0.0, 0.8])
    labels = torch.arange(300) % 3
    imgs = ((levels[labels].view(-1, 1, 1, 1) + 0.05 * torch.randn(300, 1, 8, 8))
            .clamp(-1, 1).add(1).mul(127.5).round().to(torch.uint8))
    ds = ImageDataset(imgs, labels)
    m = _model(cond_bn=cond_bn)
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
