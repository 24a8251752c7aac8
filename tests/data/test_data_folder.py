"""folder:PATH: modes, class subfolders, bad files, decompression bombs and the decode cache."""
from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from PIL import Image

import gankit.data.folder as folder_mod
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.errors import DataError


def load(path, **kw):
    return load_dataset(DataConfig(dataset=f"folder:{path}", **kw))


def rgb(h=40, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_modes_and_bad_files_one_warning(tmp_path, caplog, monkeypatch):
    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(rgb()).save(d / "a_rgb.JPG")
    Image.fromarray(rgb()[:, :, 0]).save(d / "b_grey.png")
    rgba = np.zeros((32, 32, 4), np.uint8)            # fully transparent -> white
    Image.fromarray(rgba, "RGBA").save(d / "c_rgba.png")
    Image.fromarray(np.zeros((32, 32, 2), np.uint8), "LA").save(d / "d_la.png")
    pal = Image.new("P", (32, 32), 0)
    pal.putpalette([10, 20, 30] * 256)
    pal.info["transparency"] = 0
    pal.save(d / "e_pal.png", transparency=0)
    Image.fromarray(rgb()).convert("CMYK").save(d / "f_cmyk.jpg")
    Image.fromarray(np.full((32, 32), 65535, np.uint16)).save(d / "g_16bit.png")
    Image.new("1", (32, 32), 1).save(d / "h_bilevel.bmp")
    Image.fromarray(rgb()).save(d / "i_photo.webp")
    (d / "j_empty.png").write_bytes(b"")
    good = d / "k_truncated.jpg"
    Image.fromarray(rgb(200, 200)).save(good, quality=95)
    good.write_bytes(good.read_bytes()[:600])
    (d / "l_text.jpeg").write_text("not an image at all")
    Image.fromarray(rgb(64, 64)).save(d / "m_bomb.png")
    (d / "notes.txt").write_text("ignored")
    (d / ".hidden.png").write_bytes(b"")
    monkeypatch.setattr(folder_mod, "MAX_PIXELS", 50 * 50)
    with caplog.at_level(logging.WARNING, logger="gankit.data"):
        ds = load(d, resolution=16)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, caplog.text
    msg = warnings[0].getMessage()
    assert "skipped 4 unreadable image file(s) of 13" in msg
    assert "j_empty.png: empty file" in msg and "m_bomb.png" in msg and "notes.txt" in msg
    assert ds.images.shape == (9, 3, 16, 16) and ds.labels is None
    by_name = dict(zip(sorted(["a", "b", "c", "d", "e", "f", "g", "h", "i"]), ds.images))
    assert (by_name["c"] == 255).all() and (by_name["d"] == 255).all()   # alpha on white
    assert (by_name["e"] == 255).all()                                   # transparent palette
    assert (by_name["g"] == 255).all() and (by_name["h"] == 255).all()   # 16-bit, bilevel
    grey = load(d, resolution=16, channels=1)
    assert grey.images.shape == (9, 1, 16, 16)


def test_sixteen_bit_scaling():
    from gankit.data.transforms import normalize_mode

    img = Image.fromarray(np.array([[0, 257, 32896, 65535]], np.uint16))
    assert np.asarray(normalize_mode(img)).tolist() == [[0, 1, 128, 255]]


def test_class_subfolders_and_native_size(tmp_path, caplog):
    for k, cls in enumerate(["cat", "dog", "emu"]):
        (tmp_path / cls).mkdir()
        for i in range(k + 1):
            Image.fromarray(rgb(24, 24, seed=i)[:, :, 0]).save(tmp_path / cls / f"{i}.png")
    Image.fromarray(rgb(24, 24)).save(tmp_path / "loose.png")
    with caplog.at_level(logging.WARNING, logger="gankit.data"):
        ds = load(tmp_path)
    assert "loose.png" in caplog.text
    assert ds.images.shape == (6, 1, 24, 24)                      # all grey -> 1 channel
    assert ds.labels.tolist() == [0, 1, 1, 2, 2, 2] and ds.info.class_names == ["cat", "dog",
                                                                                "emu"]
    assert load(tmp_path, labels=False).labels is None
    assert len(load(tmp_path, limit=2)) == 2


def test_non_square_default_crop(tmp_path):
    arr = np.zeros((30, 20), np.uint8)
    arr[5:25] = 200                                               # the centred 20x20 square
    Image.fromarray(arr).save(tmp_path / "x.png")
    ds = load(tmp_path)
    assert ds.images.shape == (1, 1, 20, 20) and (ds.images == 200).all()


def test_nothing_readable_and_missing(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.jpg").write_text("nope")
    with pytest.raises(DataError, match="none of the 2 image files could be read"):
        load(tmp_path, resolution=8)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no images found"):
        load(empty)
    with pytest.raises(DataError, match="not found. Looked in"):
        load(tmp_path / "missing")


def test_relative_path_found_in_data_roots(tmp_path, monkeypatch):
    (tmp_path / "root" / "faces").mkdir(parents=True)
    Image.fromarray(rgb(8, 8)).save(tmp_path / "root" / "faces" / "a.png")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "root"))
    monkeypatch.chdir(tmp_path)
    assert load_dataset(DataConfig(dataset="folder:faces")).source == str(
        tmp_path / "root" / "faces")


def test_decode_cache_hit_invalidation_and_corruption(tmp_path, monkeypatch, caplog):
    d = tmp_path / "imgs"
    d.mkdir()
    for i in range(3):
        Image.fromarray(rgb(seed=i)).save(d / f"{i}.png")
    first = load(d, resolution=8)
    cache = list((tmp_path / "xdg" / "gankit" / "decoded").glob("*.npz"))
    assert len(cache) == 1

    def boom(*a, **k):
        raise AssertionError("decoded again although cached")

    real_decode = folder_mod.decode_folder
    monkeypatch.setattr(folder_mod, "decode_folder", boom)
    assert np.array_equal(load(d, resolution=8).images, first.images)       # cache hit
    monkeypatch.setattr(folder_mod, "decode_folder", real_decode)
    # a changed file gives a new key
    Image.fromarray(rgb(seed=9)).save(d / "0.png")
    os.utime(d / "0.png", ns=(1, 1))
    changed = load(d, resolution=8)
    assert len(list((tmp_path / "xdg" / "gankit" / "decoded").glob("*.npz"))) == 1  # replaced
    assert not np.array_equal(changed.images[0], first.images[0])
    # a damaged cache file is dropped with a warning and rebuilt
    for p in (tmp_path / "xdg" / "gankit" / "decoded").glob("*.npz"):
        p.write_bytes(p.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="gankit.data"):
        again = load(d, resolution=8)
    assert "unreadable" in caplog.text
    assert np.array_equal(again.images, changed.images)
