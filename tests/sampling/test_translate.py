import numpy as np
import pytest
import torch
from PIL import Image

from gankit.data.base import DataInfo
from gankit.errors import DataError, GankitError
from gankit.models.cyclegan import CycleGAN
from gankit.models.pix2pix import Pix2Pix
from gankit.sampling.translate import translate_images



def user_folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)).save(d / "odd.png")
    Image.fromarray(rng.integers(0, 256, (20, 20), dtype=np.uint8)).save(d / "grey.jpg")
    rgba = rng.integers(0, 256, (24, 30, 4), dtype=np.uint8)
    rgba[:, :10, 3] = 0
    Image.fromarray(rgba, "RGBA").save(d / "alpha.png")
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (d / "readme.txt").write_text("not an image")
    return d


def test_translates_every_readable_image_and_reports_the_corrupt_one(tmp_path):
    model = CycleGAN(CycleGAN.Config(ngf=4, ndf=4, n_blocks=1), DataInfo("unpaired", 3, 16))
    src = user_folder(tmp_path)
    rep = translate_images(model, src, tmp_path / "out", "BtoA", sheet=tmp_path / "sheet.png")
    names = sorted(p.name for p in rep.written)
    assert names == ["alpha.png", "grey.jpg", "odd.png"]
    assert [n for n, _ in rep.skipped] == ["broken.jpg"]
    assert "not a readable image" in rep.skipped[0][1]
    assert rep.ignored == ["readme.txt"]
    with Image.open(tmp_path / "out" / "odd.png") as im:
        assert im.size == (53, 37) and im.mode == "RGB"
    with Image.open(tmp_path / "out" / "alpha.png") as im:
        assert im.size == (30, 24) and im.mode == "RGBA"
        assert np.asarray(im)[:, :10, 3].max() == 0  # transparency kept
    with Image.open(tmp_path / "out" / "grey.jpg") as im:
        assert im.size == (20, 20)
    with Image.open(rep.sheet) as im:
        assert im.size[0] > im.size[1] / 3 * 2  # 2 columns, 3 rows of 16 px + padding
    assert "skipped broken.jpg" in rep.summary()


def grey_u_net_and_image(tmp_path, size: int, seed: int):
    """A grey pix2pix trained at 16 px (eval mode), a folder holding one random size x size
    grey image, the image, and what the model makes of it as uint8."""
    model = Pix2Pix(Pix2Pix.Config(ngf=4, ndf=4), DataInfo("paired", 1, 16))
    model.eval()
    d = tmp_path / "in"
    d.mkdir()
    arr = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    Image.fromarray(arr).save(d / "x.png")
    x = torch.from_numpy(arr).float().div(127.5).sub(1).view(1, 1, size, size)
    with torch.no_grad():
        expect = model.translate(x)[0, 0].add(1).mul(127.5).round().clamp(0, 255).byte()
    return model, d, expect


def test_outputs_match_the_model(tmp_path):
    model, d, expect = grey_u_net_and_image(tmp_path, 16, seed=1)
    rep = translate_images(model, d / "x.png", tmp_path / "out")
    assert not model.training
    got = torch.from_numpy(np.array(Image.open(rep.written[0])))
    assert (got.int() - expect.int()).abs().max() <= 1


def test_size_translates_a_u_net_at_a_multiple_of_its_resolution(tmp_path):
    # a U-Net trained on 16-px crops is fully convolutional: --size 32 runs it on 32 x 32
    model, d, expect = grey_u_net_and_image(tmp_path, 32, seed=2)
    rep = translate_images(model, d, tmp_path / "out", size=32, sheet=tmp_path / "s.png")
    got = torch.from_numpy(np.array(Image.open(rep.written[0])))
    assert got.shape == (32, 32) and (got.int() - expect.int()).abs().max() <= 1
    with Image.open(rep.sheet) as im:
        assert im.size[1] == 32 + 4  # the sheet is at the translation size
    with pytest.raises(GankitError, match="multiples of 16"):
        translate_images(model, d, tmp_path / "o2", size=24)
    with pytest.raises(GankitError, match="--size"):
        translate_images(model, d, tmp_path / "o3", size=-1)


def test_user_errors(tmp_path):
    model = Pix2Pix(Pix2Pix.Config(ngf=4, ndf=4), DataInfo("paired", 3, 16))
    src = user_folder(tmp_path)
    with pytest.raises(GankitError, match="overwrite"):
        translate_images(model, src, src)
    with pytest.raises(DataError, match="does not exist"):
        translate_images(model, tmp_path / "missing", tmp_path / "o")
    with pytest.raises(GankitError, match="one direction"):
        translate_images(model, src, tmp_path / "o", "BtoA")
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "a.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match="no image could be translated"):
        translate_images(model, only_bad, tmp_path / "o2")


def test_trained_run_checkpoint_export_and_cli(tmp_path, capsys):
    from gankit.cli import main
    from gankit.config import config_from_dict
    from gankit.sampling.translate import load_translator
    from gankit.train.trainer import train

    cfg = config_from_dict({
        "model": {"name": "cyclegan", "ngf": 4, "ndf": 4, "n_blocks": 1},
        "data": {"dataset": "synthetic-unpaired:12", "resolution": 16, "channels": 3},
        "train": {"steps": 3, "batch_size": 4, "sample_every": 2, "checkpoint_every": 0,
                  "progress": False, "threads": 1, "grid_size": 8, "ema_decay": 0.5}})
    run = train(cfg, tmp_path / "run")
    assert (run / "fakes_000002.png").exists()  # input | translation | reconstruction grid
    a = load_translator(run / "checkpoints" / "latest.pt")
    b = load_translator(run / "export")
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(a.translate(x, "BtoA"), b.translate(x, "BtoA"))
    src = user_folder(tmp_path)
    code = main(["translate", str(run), str(src), "--direction", "BtoA",
                 "--out", str(tmp_path / "cli_out"), "--sheet", str(tmp_path / "s.png")])
    out = capsys.readouterr().out
    assert code == 1  # something was skipped
    assert "translated 3 image(s)" in out and "skipped broken.jpg" in out
    assert sorted(p.name for p in (tmp_path / "cli_out").iterdir()) == [
        "alpha.png", "grey.jpg", "odd.png"]
    # a model without the capability, and a missing run, are one-line errors
    code = main(["translate", str(tmp_path / "nope"), str(src), "--out", str(tmp_path / "o")])
    assert code == 2 and "does not exist" in capsys.readouterr().err
