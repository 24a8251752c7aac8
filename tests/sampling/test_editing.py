"""Latent directions (labels, logistic regression, classifier gradient) and walking along them.

The attribute is one we control: the mean brightness of the image (a differentiable
"classifier"), so a correct direction must make it rise monotonically.
"""
import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.errors import GankitError
from gankit.sampling import editing as ed

STRENGTHS = [-3, -1.5, 0, 1.5, 3]


def two_attributes(x):
    """Column 0: brightness; column 1: top half minus bottom half brightness."""
    h = x.shape[2] // 2
    return torch.stack([x.flatten(1).mean(1),
                        x[:, :, :h].flatten(1).mean(1) - x[:, :, h:].flatten(1).mean(1)], 1)


def mean_brightness_along(gen, d, seeds=range(40)):
    images, ncol = ed.walk(gen, list(seeds), d, STRENGTHS)
    assert ncol == len(STRENGTHS)
    return ed.brightness(images).view(-1, ncol)


def assert_monotone(b):
    means = b.mean(0)
    assert torch.all(means[1:] > means[:-1]), means
    # and for most seeds individually, end to end
    assert (b[:, -1] > b[:, 0]).float().mean() >= 0.9


@pytest.mark.parametrize("method", ["mean", "logistic"])
def test_direction_from_scored_samples_raises_the_score(gan_gen, method):
    z, scores = ed.sample_and_score(gan_gen, list(range(300)), ed.brightness)
    assert z.shape == (300, 16) and scores.shape == (300,)
    d = ed.direction_from_labels(z, scores, method)
    assert d.shape == (16,) and abs(float(d.norm()) - 1) < 1e-5
    assert_monotone(mean_brightness_along(gan_gen, d))
    assert_monotone(mean_brightness_along(gan_gen, d, range(1000, 1040)))  # unseen seeds


def test_direction_from_classifier_gradient(gan_gen):
    z = gan_gen.latents(list(range(32)))
    d = ed.direction_from_classifier(gan_gen, ed.brightness, z, steps=5, lr=0.3)
    assert_monotone(mean_brightness_along(gan_gen, d))
    down = ed.gradient_edit(gan_gen, ed.brightness, z, steps=5, lr=0.3, sign=-1)
    assert ed.score_latents(gan_gen, down, ed.brightness).mean() < \
        ed.score_latents(gan_gen, z, ed.brightness).mean()


def test_holding_another_attribute_fixed(gan_gen):
    z = gan_gen.latents(list(range(32)))
    s0 = ed.score_latents(gan_gen, z, two_attributes)
    free = ed.score_latents(gan_gen, ed.gradient_edit(gan_gen, two_attributes, z, 0, steps=10,
                                                      lr=0.2), two_attributes) - s0
    held = ed.score_latents(gan_gen, ed.gradient_edit(gan_gen, two_attributes, z, 0, steps=10,
                                                      lr=0.2, hold=[1]),
                            two_attributes) - s0
    assert held[:, 0].mean() > 0.5 * free[:, 0].mean() > 0     # still edits brightness
    assert held[:, 1].abs().mean() < 0.5 * free[:, 1].abs().mean()  # the held one moves less
    with pytest.raises(GankitError, match="both edited and held"):
        ed.gradient_edit(gan_gen, two_attributes, z, 0, hold=[0])


def test_logistic_recovers_a_known_boundary():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(20, generator=g)
    w /= w.norm()
    z = torch.randn(2000, 20, generator=g)
    y = (z @ w + 0.3 * torch.randn(2000, generator=g) > 0).float()
    for method in ("logistic", "mean"):
        assert float(ed.direction_from_labels(z, y, method) @ w) > 0.95
    with pytest.raises(GankitError, match="one class"):
        ed.direction_from_labels(z, torch.ones(2000))


def test_orthogonalize():
    g = torch.Generator().manual_seed(0)
    a, b, c = torch.randn(3, 10, generator=g)
    d = ed.orthogonalize(a, [b, c])
    assert abs(float(d @ b)) < 1e-5 and abs(float(d @ c)) < 1e-5
    assert abs(float(d.norm()) - 1) < 1e-6 and float(d @ a) > 0
    with pytest.raises(GankitError, match="span"):
        ed.orthogonalize(b + c, [b, c])


def test_walk_rows_and_columns(gan_gen):
    d = torch.zeros(16)
    d[0] = 2.0  # not unit: walk normalises
    images, ncol = ed.walk(gan_gen, [4, 5], d, [0.0, 1.0])
    z = gan_gen.latents([4, 5])
    from gankit.sampling._common import generate_z

    moved = z.clone()
    moved[:, 0] += 1.0
    assert torch.allclose(images[0], generate_z(gan_gen, z[:1])[0], atol=1e-6)
    assert torch.allclose(images[3], generate_z(gan_gen, moved[1:])[0], atol=1e-6)
    with pytest.raises(GankitError, match="another model"):
        ed.walk(gan_gen, [0], torch.ones(5), [1.0])


def test_classifier_specs(tmp_path):
    assert ed.load_classifier("brightness") is ed.brightness
    f = tmp_path / "clf.py"
    f.write_text("def dark(x):\n    return -x.flatten(1).mean(1)\n")
    fn = ed.load_classifier(f"{f}:dark")
    assert float(fn(torch.ones(1, 1, 2, 2))) == -1.0
    for bad in ("nonsense", f"{f}:missing", "no_such_module_xyz:f"):
        with pytest.raises(GankitError):
            ed.load_classifier(bad)


def test_cli_direction_then_edit(gan_run, tmp_path, capsys):
    d, scores = tmp_path / "dir.npy", tmp_path / "scores.npz"
    assert main(["direction", str(gan_run), "--classifier", "brightness", "--samples", "0-199",
                 "--method", "mean", "--out", str(d), "--save-scores", str(scores)]) == 0
    vec = np.load(d)
    assert vec.shape == (16,) and vec.dtype == np.float32
    # the same direction from the saved labelled latents
    d2 = tmp_path / "dir2.npy"
    assert main(["direction", str(gan_run), "--labels", str(scores), "--method", "mean",
                 "--out", str(d2)]) == 0
    assert np.allclose(np.load(d2), vec, atol=1e-5)
    d3 = tmp_path / "dir3.npy"
    assert main(["direction", str(gan_run), "--classifier", "brightness", "--samples", "0-15",
                 "--method", "gradient", "--steps", "3", "--orthogonal-to", str(d),
                 "--out", str(d3)]) == 0
    assert abs(float(np.load(d3) @ vec)) < 1e-5
    out = tmp_path / "edit.png"
    assert main(["edit", str(gan_run), "--seeds", "0-7", "--direction", str(d),
                 "--strengths", "-3,-1.5,0,1.5,3", "--out", str(out)]) == 0
    from PIL import Image

    with Image.open(out) as im:
        assert im.size == (2 + 5 * 18, 2 + 8 * 18)
    z = tmp_path / "z.npy"
    np.save(z, np.random.default_rng(0).standard_normal((2, 16)).astype(np.float32))
    assert main(["edit", str(gan_run), "--latents", str(z), "--direction", str(d),
                 "--strengths", "0,2", "--out", str(tmp_path / "e2.png")]) == 0
    capsys.readouterr()
    assert main(["edit", str(gan_run), "--direction", str(tmp_path / "none.npy"),
                 "--out", str(tmp_path / "x.png")]) == 2
    assert main(["direction", str(gan_run), "--out", str(tmp_path / "x.npy")]) == 2
    assert "either --classifier" in capsys.readouterr().err
