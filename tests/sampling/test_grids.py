"""Class, truncation and style-mixing grids, and the `gankit grid` / `gankit mix` commands."""
import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.errors import GankitError
from gankit.sampling._common import generate_z
from gankit.sampling.grids import class_grid, mixing_grid, truncation_grid


def test_class_grid_rows_are_classes_columns_share_latents(make_toy):
    gen = make_toy(("sample", "conditional"), classes=3)
    images, ncol = class_grid(gen, per_class=4)
    assert ncol == 4 and images.shape == (12, 1, 8, 8)
    z = gen.latents([0, 1, 2, 3])
    for c in range(3):
        want = generate_z(gen, z, torch.full((4,), c))
        assert torch.allclose(images[c * 4:(c + 1) * 4], want)
    # rows differ (the label matters), columns differ (the latent matters)
    assert not torch.allclose(images[0], images[4]) and not torch.allclose(images[0], images[1])
    sub, _ = class_grid(gen, 2, seeds=[7, 9], classes=[2])
    assert torch.allclose(sub, generate_z(gen, gen.latents([7, 9]), torch.tensor([2, 2])))
    with pytest.raises(GankitError, match="out of range"):
        class_grid(gen, 2, classes=[5])


def test_class_grid_refuses_unconditional_models(make_toy, gan_gen):
    for gen in (make_toy(), gan_gen):
        with pytest.raises(GankitError, match="'conditional' capability"):
            class_grid(gen, 4)


def test_truncation_grid_passes_psi(make_toy):
    gen = make_toy(("sample", "truncate"))
    images, ncol = truncation_grid(gen, [0, 1, 2], [1.0, 0.5, 0.0])
    assert ncol == 3 and images.shape == (9, 1, 8, 8)
    assert [c["psi"] for c in gen.model.calls] == [1.0, 0.5, 0.0]
    # psi = 0: every seed collapses to the mean latent's image
    assert torch.allclose(images[6], images[7]) and torch.allclose(images[7], images[8])
    assert not torch.allclose(images[0], images[1])
    with pytest.raises(GankitError, match="'truncate' capability"):
        truncation_grid(make_toy(), [0], [0.7])


def test_mixing_grid_layout(make_toy):
    gen = make_toy(("sample", "mix"))
    images, ncol = mixing_grid(gen, [0, 1], [5, 6, 7], mix_layers=(1, 2))
    assert ncol == 4 and images.shape == (12, 1, 8, 8)
    assert [c["mix_layers"] for c in gen.model.calls if c["mix_z"] is not None] == [(1, 2)] * 2
    assert torch.all(images[0] == -1)  # blank corner
    cols, rows = gen.generate([5, 6, 7]), gen.generate([0, 1])
    assert torch.allclose(images[1:4], cols) and torch.allclose(images[4], rows[0])
    assert torch.allclose(images[8], rows[1])
    # cell (r, c): first half of z from the row seed, the rest from the column seed
    zr, zc = gen.latents([1]), gen.latents([6])
    half = zr.shape[1] // 2
    want = gen.model.nets["G"](torch.cat([zr[:, :half], zc[:, half:]], 1))
    assert torch.allclose(images[4 + 4 + 2], want[0], atol=1e-6)
    with pytest.raises(GankitError, match="'mix' capability"):
        mixing_grid(make_toy(), [0], [1])


def test_cli_grid_and_mix_on_unconditional_run(gan_run, tmp_path, capsys):
    assert main(["grid", str(gan_run), "--per-class", "4", "--out",
                 str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert "conditional" in err and "gankit sample" in err and "Traceback" not in err
    assert main(["grid", str(gan_run), "--psi", "1,0.5", "--out", str(tmp_path / "t.png")]) == 2
    assert "truncate" in capsys.readouterr().err
    assert main(["mix", str(gan_run), "--out", str(tmp_path / "m.png")]) == 2
    assert "'mix' capability" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
