"""Projection of images into z by optimisation, and `gankit project`."""
import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.errors import DataError, GankitError
from gankit.sampling.projection import RandomFeatures, load_image, project


def test_projecting_a_generated_image_recovers_it(gan_gen):
    target = gan_gen.generate([1234])  # made from a known z, so a perfect fit exists
    res = project(gan_gen, target, steps=150, lr=0.05, n_init=8)
    assert res.z.shape == (1, 16) and res.image.shape == (1, 1, 16, 16)
    assert res.final_mse < 0.05 * res.initial_mse, (res.initial_mse, res.final_mse)
    assert len(res.history) == 150 and res.history[-1] < res.history[0]
    # the reconstruction is what the returned latent generates
    start = project(gan_gen, target, steps=0, n_init=8)
    assert start.final_mse == pytest.approx(res.initial_mse, rel=1e-5)
    from gankit.sampling._common import generate_z

    assert torch.allclose(generate_z(gan_gen, res.z), res.image, atol=1e-6)


def test_projection_with_feature_loss_and_batches(gan_gen):
    target = gan_gen.generate([7, 8])
    res = project(gan_gen, target, steps=60, feature_weight=0.5, n_init=4)
    assert res.z.shape == (2, 16) and res.final_mse < res.initial_mse
    feats = RandomFeatures(1)(target)
    assert feats.shape[0] == 2 and torch.isfinite(feats).all()


def test_projection_input_checks(gan_gen, make_toy):
    with pytest.raises(GankitError, match="N x 1 x 16 x 16"):
        project(gan_gen, torch.zeros(1, 3, 16, 16), steps=1)
    with pytest.raises(GankitError, match="not class-conditional"):
        project(gan_gen, torch.zeros(1, 1, 16, 16), steps=1, class_id=1)


def test_projection_conditional_finds_the_class(make_toy):
    gen = make_toy(("sample", "conditional"), classes=3)
    from gankit.sampling._common import generate_z

    target = generate_z(gen, gen.latents([99]), torch.tensor([2]))
    res = project(gen, target, steps=80, n_init=8)
    assert res.labels is not None and res.final_mse < 0.2 * res.initial_mse


def test_load_image_crops_resizes_and_converts(tmp_path):
    rgba = np.zeros((30, 50, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    rgba[:, :10, 3] = 0  # transparent strip on the left goes white, then is cropped away
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    x = load_image(tmp_path / "a.png", 3, 16)
    assert x.shape == (1, 3, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert torch.allclose(x[0, :, 8, 8], torch.tensor([1.0, -1.0, -1.0]))
    g = load_image(tmp_path / "a.png", 1, 8)
    assert g.shape == (1, 1, 8, 8)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match="not an image"):
        load_image(tmp_path / "bad.png", 1, 8)
    with pytest.raises(DataError, match="does not exist"):
        load_image(tmp_path / "none.png", 1, 8)


def test_cli_project_then_edit_own_image(gan_run, gan_gen, tmp_path, capsys):
    from gankit.utils.images import save_image

    img = tmp_path / "me.png"
    save_image(gan_gen.generate([4321])[0], img)
    out, z, cmp = tmp_path / "projected.png", tmp_path / "z.npy", tmp_path / "cmp.png"
    assert main(["project", str(gan_run), str(img), "--steps", "60", "--out", str(out),
                 "--save-latent", str(z), "--compare", str(cmp), "--init", "4"]) == 0
    assert "pixel MSE" in capsys.readouterr().out
    assert out.is_file() and cmp.is_file() and np.load(z).shape == (1, 16)
    d = tmp_path / "d.npy"
    np.save(d, np.eye(16, dtype=np.float32)[0])
    assert main(["edit", str(gan_run), "--latents", str(z), "--direction", str(d),
                 "--strengths=-2,0,2", "--out", str(tmp_path / "e.png")]) == 0
