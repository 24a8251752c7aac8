"""Interpolation maths and the `gankit interpolate` command."""
import math

import pytest
import torch
from PIL import Image

from gankit.cli import main
from gankit.errors import GankitError
from gankit.sampling.interpolate import (interpolate, interpolate_at, interpolation_path, lerp,
                                         slerp)


def test_lerp_and_slerp_endpoints():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 32, generator=g)
    for fn in (lerp, slerp):
        assert torch.allclose(fn(a, b, 0.0), a, atol=1e-5)
        assert torch.allclose(fn(a, b, 1.0), b, atol=1e-5)


def test_slerp_stays_on_the_sphere_and_bisects_the_angle():
    a = torch.tensor([1.0, 0.0, 0.0])
    b = torch.tensor([0.0, 1.0, 0.0])
    t = torch.linspace(0, 1, 11)
    path = slerp(a.expand(11, -1), b.expand(11, -1), t)
    assert torch.allclose(path.norm(dim=1), torch.ones(11), atol=1e-6)
    assert torch.allclose(path[5], torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2), atol=1e-6)
    # equal angle steps: consecutive frames are equally far apart (lerp would not be on the
    # sphere, and its normalised version would bunch up in the middle)
    steps = (path[1:] - path[:-1]).norm(dim=1)
    assert torch.allclose(steps, steps[0].expand(10), atol=1e-5)
    # lerp's midpoint falls inside the sphere: what slerp avoids
    assert lerp(a, b, 0.5).norm() < 0.72


def test_slerp_norm_moves_linearly():
    a = torch.tensor([2.0, 0.0])
    b = torch.tensor([0.0, 4.0])
    assert slerp(a, b, 0.25).norm().item() == pytest.approx(2.5, abs=1e-5)


def test_slerp_near_parallel_is_finite_and_close_to_lerp():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(64, generator=g)
    b = a + 1e-7 * torch.randn(64, generator=g)
    for t in (0.0, 0.3, 1.0):
        v = slerp(a, b, t)
        assert torch.isfinite(v).all()
        assert torch.allclose(v, lerp(a, b, t), atol=1e-5)
    v = slerp(a, a.clone(), 0.5)  # exactly parallel: 0/0 in the textbook formula
    assert torch.isfinite(v).all() and torch.allclose(v, a, atol=1e-5)


def test_slerp_antiparallel_goes_round_not_through_zero():
    a = torch.tensor([3.0, 0.5, -1.0, 2.0])
    b = -a
    t = torch.linspace(0, 1, 9)
    path = slerp(a.expand(9, -1), b.expand(9, -1), t)
    assert torch.isfinite(path).all()
    assert torch.allclose(path.norm(dim=1), a.norm().expand(9), atol=1e-5)
    assert torch.allclose(path[0], a, atol=1e-5) and torch.allclose(path[-1], b, atol=1e-5)
    assert abs(float(path[4] @ a)) < 1e-4  # half way: orthogonal to both ends


def test_path_has_shared_ends_once():
    z = torch.randn(3, 5)
    p = interpolation_path(z, 4, "slerp")
    assert p.shape == (7, 5)
    for i, j in ((0, 0), (3, 1), (6, 2)):
        assert torch.allclose(p[i], z[j], atol=1e-5)


@pytest.mark.parametrize("bad", [dict(steps=1), dict(mode="cubic")])
def test_path_errors(bad):
    kw = dict(steps=4, mode="lerp") | bad
    with pytest.raises(GankitError):
        interpolation_path(torch.randn(2, 3), **kw)
    with pytest.raises(GankitError, match="two seeds"):
        interpolation_path(torch.randn(1, 3), 4)


def test_interpolate_frames_start_and_end_at_the_seeds(gan_gen):
    frames = interpolate(gan_gen, [3, 17, 42], steps=5, mode="slerp")
    assert frames.shape == (9, 1, 16, 16)
    ends = gan_gen.generate([3, 17, 42])
    assert torch.allclose(frames[0], ends[0], atol=1e-5)
    assert torch.allclose(frames[4], ends[1], atol=1e-5)
    assert torch.allclose(frames[8], ends[2], atol=1e-5)
    assert not torch.allclose(frames[2], ends[0], atol=1e-3)  # it moves
    one = interpolate_at(gan_gen, [3, 17, 42], 1.0)
    assert torch.allclose(one[0], ends[1], atol=1e-5)
    mid = interpolate_at(gan_gen, [3, 17], 0.5, mode="lerp")
    assert torch.allclose(mid[0], interpolate(gan_gen, [3, 17], 3, "lerp")[1], atol=1e-5)


def test_cli_interpolate_png_and_gif(gan_run, tmp_path, capsys):
    strip, gif = tmp_path / "strip.png", tmp_path / "anim.gif"
    assert main(["interpolate", str(gan_run), "--seeds", "3,17,42", "--steps", "8", "--mode",
                 "lerp", "--out", str(strip), "--gif", str(gif), "--fps", "10",
                 "--scale", "2"]) == 0
    n = 15
    with Image.open(strip) as im:
        assert im.size == (2 + n * 18, 2 + 18)  # one row of 16 px frames, 2 px padding
    with Image.open(gif) as im:
        assert im.n_frames == n and im.size == (32, 32)
        assert im.info["duration"] == 100 and im.info.get("loop") == 0
    assert "wrote 15 frames" in capsys.readouterr().out


def test_cli_interpolate_errors(gan_run, tmp_path, capsys):
    assert main(["interpolate", str(gan_run), "--seeds", "3", "--out",
                 str(tmp_path / "x.png")]) == 2
    assert "two seeds" in capsys.readouterr().err


def test_gif_rgb_boomerang(tmp_path):
    from gankit.sampling.gif import save_gif

    frames = torch.linspace(-1, 1, 5).view(5, 1, 1, 1).expand(5, 3, 6, 6).clone()
    frames[:, 0] = -1.0  # no red: colour frames stay colour
    path = save_gif(frames, tmp_path / "a.gif", fps=25, boomerang=True)
    with Image.open(path) as im:
        assert im.n_frames == 8 and im.info["duration"] == 40
        im.seek(4)  # the last frame, brightest: no red, full green and blue
        r, g, b = im.convert("RGB").getpixel((0, 0))
        assert r < 10 and g > 245 and b > 245
    with pytest.raises(GankitError, match="fps"):
        save_gif(frames, tmp_path / "b.gif", fps=0)


def test_bytes_for_web_responses():
    import io

    from gankit.sampling.gif import gif_bytes
    from gankit.sampling.grids import png_bytes

    frames = torch.rand(4, 1, 8, 8) * 2 - 1
    with Image.open(io.BytesIO(gif_bytes(frames, 10))) as im:
        assert im.format == "GIF" and im.n_frames == 4
    with Image.open(io.BytesIO(png_bytes(frames, nrow=2))) as im:
        assert im.format == "PNG" and im.size == (2 + 2 * 10, 2 + 2 * 10)
