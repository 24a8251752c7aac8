"""`gankit data pack`: a folder becomes a zip of PNGs at the training shape + dataset.json."""
from __future__ import annotations

import json
import zipfile

import torch
from imagesets import make_folder

from gankit.cli import main
from gankit.config import config_from_dict
from gankit.data import load_dataset


def data_cfg(spec, **kw):
    return config_from_dict({"data": {"dataset": spec, **kw}}).data


def test_pack_skips_unreadable_files_and_names_them(tmp_path, capsys):
    src = make_folder(tmp_path / "imgs", n_per_class=3)
    (src / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (src / "dogs" / "empty.jpg").write_bytes(b"")
    out = tmp_path / "set.zip"
    assert main(["data", "pack", str(src), str(out), "--resolution", "16",
                 "--center-crop", "18"]) == 0
    text = capsys.readouterr().out
    assert "packed 6 images (16x16 RGB, 2 classes)" in text
    assert "skipped 2 unreadable file(s):" in text
    assert "cats/broken.png: not an image Pillow can read" in text
    assert "dogs/empty.jpg: empty file" in text
    with zipfile.ZipFile(out) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".png"))
        meta = json.loads(z.read("dataset.json"))
    assert names == [f"00000/img{i:08d}.png" for i in range(6)]
    assert meta["class_names"] == ["cats", "dogs"]
    assert [label for _, label in meta["labels"]] == [0, 0, 0, 1, 1, 1]


def test_packed_images_equal_the_folder_decoded_in_memory(tmp_path):
    src = make_folder(tmp_path / "imgs", n_per_class=4)
    main(["data", "pack", str(src), str(tmp_path / "set.zip"), "--resolution", "16",
          "--center-crop", "18"])
    folder = load_dataset(data_cfg(f"folder:{src}", resolution=16, center_crop=18,
                                   stream=False))
    packed = load_dataset(data_cfg(f"zip:{tmp_path / 'set.zip'}"))
    assert packed.info.to_dict() == folder.info.to_dict()
    assert torch.equal(packed.images, folder.images)  # PNG is lossless: same pixels
    assert torch.equal(packed.labels, folder.labels)


def test_pack_unlabelled_greyscale_and_nothing_readable(tmp_path, capsys):
    from PIL import Image

    src = tmp_path / "grey"
    src.mkdir()
    for i in range(3):
        Image.new("L", (10, 10), 40 * i).save(src / f"{i}.png")
    assert main(["data", "pack", str(src), str(tmp_path / "g.zip")]) == 0
    assert "3 images (10x10 greyscale, unlabelled)" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "g.zip") as z:
        assert json.loads(z.read("dataset.json"))["labels"] is None
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.png").write_bytes(b"nope")
    assert main(["data", "pack", str(bad), str(tmp_path / "b.zip")]) == 2
    err = capsys.readouterr().err
    assert "none of its 1 image file(s) could be read" in err and "a.png" in err
    assert not (tmp_path / "b.zip").exists() and not list(tmp_path.glob(".b.zip*"))


def test_info_on_a_streamed_zip(tmp_path, capsys, monkeypatch):
    from gankit.data import stream

    src = make_folder(tmp_path / "imgs", n_per_class=2)
    main(["data", "pack", str(src), str(tmp_path / "set.zip"), "--resolution", "8"])
    capsys.readouterr()
    monkeypatch.setattr(stream, "STREAM_BYTES", 10)  # 4 x 3 x 8 x 8 = 768 bytes: streamed
    assert main(["data", "info", f"zip:{tmp_path / 'set.zip'}"]) == 0
    text = capsys.readouterr().out
    assert "(4, 3, 8, 8) (N x C x H x W, decoded per batch: streamed)" in text
    assert "classes:  2" in text
    assert f"found in: {tmp_path / 'set.zip'} (streamed: 0.8 kB decoded > " in text
