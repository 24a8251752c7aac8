"""Raw archives (`gankit data pack --format raw`): the PNG archive's pixels without decoding.

The raw archive of a folder must give exactly the pixels (and batches, flips, labels) of the PNG
archive of the same folder, streamed or in memory, at the stored shape and resized; a run
streamed from it with 2 workers must resume bit-identically; a truncated or damaged archive
must stop with one line naming what is wrong and what to do.
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest
import torch
from imagesets import make_folder
from states import assert_resumes_exactly, assert_states_equal, latest, stream_run_config

from gankit.cli import main
from gankit.config import config_from_dict
from gankit.data import load_dataset
from gankit.data.base import ImageDataset
from gankit.data.pack import pack_images
from gankit.data.rawzip import RawImages, open_files
from gankit.data.stream import StreamDataset
from gankit.errors import DataError, GankitError
from gankit.train.trainer import train


def data_cfg(spec, **kw):
    return config_from_dict({"data": {"dataset": spec, "resolution": 16, "flip": True,
                                      **kw}}).data


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    root = tmp_path_factory.mktemp("raw")
    folder = make_folder(root / "imgs", n_per_class=11, classes=("a", "b", "c"))
    pack_images(folder, root / "png.zip", resolution=16)
    pack_images(folder, root / "raw.zip", resolution=16, format="raw")
    return root / "png.zip", root / "raw.zip"


def test_raw_archive_layout_and_entries(packed):
    png, raw = packed
    with zipfile.ZipFile(png) as p, zipfile.ZipFile(raw) as r:
        png_meta = json.loads(p.read("dataset.json"))
        raw_meta = json.loads(r.read("dataset.json"))
        entries = [i for i in r.infolist() if i.filename.endswith(".npy")]
        first = np.load(io.BytesIO(r.read(entries[0].filename)))
        with p.open(png_meta["labels"][0][0]) as f:
            from PIL import Image

            want = np.asarray(Image.open(f).convert("RGB"))
    assert [e.filename for e in entries] == [f"00000/img{i:08d}.npy" for i in range(33)]
    assert all(e.compress_type == zipfile.ZIP_STORED for e in entries)
    assert raw_meta["class_names"] == png_meta["class_names"] == ["a", "b", "c"]
    assert [(n.replace(".npy", ".png"), k) for n, k in raw_meta["labels"]] == \
        [tuple(pair) for pair in png_meta["labels"]]
    assert first.dtype == np.uint8 and first.shape == (3, 16, 16)  # C x H x W
    assert np.array_equal(first.transpose(1, 2, 0), want)
    assert isinstance(open_files(raw), RawImages) and not isinstance(open_files(png), RawImages)


@pytest.mark.parametrize("stream,workers", [(False, 0), (True, 0), (True, 2)])
def test_raw_batches_equal_the_png_archives(packed, stream, workers):
    png, raw = packed
    a = load_dataset(data_cfg(f"zip:{png}", stream=False))
    b = load_dataset(data_cfg(f"zip:{raw}", stream=stream, workers=workers))
    assert isinstance(b, StreamDataset if stream else ImageDataset)
    assert b.info.to_dict() == a.info.to_dict()
    if not stream:
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    la, lb = a.loader(8, seed=3), b.loader(8, seed=3)
    flipped = 0
    for _ in range(9):  # 33 images, batch 8: across epochs
        x, y = next(la), next(lb)
        assert torch.equal(x["real"], y["real"]) and torch.equal(x["label"], y["label"])
        flipped += int((x["real"] != x["real"].flip(-1)).any())
    assert flipped
    if stream:
        lb.close()


@pytest.mark.parametrize("res,channels,crop", [(8, 3, 0), (16, 1, 0), (8, 3, 12), (20, 3, 0)])
def test_raw_at_another_shape_decodes_like_the_png(packed, res, channels, crop):
    png, raw = packed
    kw = dict(resolution=res, channels=channels, center_crop=crop, stream=True, workers=0)
    a = load_dataset(data_cfg(f"zip:{png}", **kw)).loader(8, seed=1)
    b = load_dataset(data_cfg(f"zip:{raw}", **kw)).loader(8, seed=1)
    for _ in range(3):
        x, y = next(a), next(b)
        assert x["real"].shape[1:] == (channels, res, res)
        assert torch.equal(x["real"], y["real"])


run_cfg = stream_run_config


def test_exact_resume_streaming_a_raw_archive_with_two_workers(packed, tmp_path):
    png, raw = packed
    cfg = run_cfg(f"zip:{raw}", stream=True, workers=2)
    assert_resumes_exactly(cfg, tmp_path, at=3)
    # and it is the run from the PNG archive in memory, bit for bit
    train(run_cfg(f"zip:{png}", stream=False), tmp_path / "png")
    assert_states_equal(latest(tmp_path / "full"), latest(tmp_path / "png"))
    assert "2 worker(s)" in (tmp_path / "full" / "log.txt").read_text()


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and isinstance(e.value, GankitError)
    return msg


def test_truncated_raw_archive_is_refused_with_one_line(packed, tmp_path):
    _, raw = packed
    data = raw.read_bytes()
    cut = tmp_path / "cut.zip"
    for keep in (len(data) // 2, len(data) - 10):  # the zip directory at the end is lost
        cut.write_bytes(data[:keep])
        with pytest.raises(DataError) as e:
            load_dataset(data_cfg(f"zip:{cut}", stream=True))
        msg = one_line(e)
        assert "truncated or damaged" in msg and "pack it again" in msg


def rewrite(src, dst, change):
    """A copy of zip ``src`` whose entry bytes are ``change(name, bytes)``, the directory
    (CRCs, sizes) kept from ``src``: what a damaged copy looks like."""
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        for info in z.infolist():
            start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
            new = change(info.filename, bytes(data[start:start + info.file_size]))
            data[start:start + info.file_size] = new
    dst.write_bytes(bytes(data))
    return dst


def test_damaged_entry_is_one_line_naming_it_from_a_worker(packed, tmp_path):
    _, raw = packed
    probe = load_dataset(data_cfg(f"zip:{raw}", stream=True, workers=0)).loader(8, seed=0)
    victim = sorted(set(probe.indices(1).tolist()) - set(probe.indices(0).tolist()))[0]
    name = f"00000/img{victim:08d}.npy"

    def flip_a_pixel(n, b):
        return b[:-5] + bytes([b[-5] ^ 0xFF]) + b[-4:] if n == name else b

    bad = rewrite(raw, tmp_path / "bad.zip", flip_a_pixel)
    loader = load_dataset(data_cfg(f"zip:{bad}", stream=True, workers=2)).loader(8, seed=0)
    next(loader)  # batch 0, decoded here; batch 1 comes from a worker
    with pytest.raises(DataError) as e:
        next(loader)
    msg = one_line(e)
    assert f"{name} is damaged (its bytes do not match the zip's CRC)" in msg
    assert "gankit data pack --format raw" in msg
    loader.close()

    def bad_header(n, b):
        return b.replace(b"(3, 16, 16)", b"(3, 16, 61)") if n == "00000/img00000005.npy" else b

    files = open_files(rewrite(raw, tmp_path / "header.zip", bad_header))
    out = np.zeros((3, 16, 16), np.uint8)
    files.decode_into(4, out, mirror=True, center_crop=0)
    with pytest.raises(DataError) as e:
        files.decode_into(5, out, mirror=False, center_crop=0)
    assert "img00000005.npy is damaged (its .npy header differs" in one_line(e)


def test_compressed_or_mixed_shape_entries_are_refused(packed, tmp_path):
    _, raw = packed
    deflated = tmp_path / "deflated.zip"
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as d:
        for n in src.namelist():
            d.writestr(n, src.read(n))
    with pytest.raises(DataError) as e:
        load_dataset(data_cfg(f"zip:{deflated}", stream=True))
    assert "are compressed" in one_line(e) and "--format raw" in str(e.value)
    mixed = tmp_path / "mixed.zip"
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(mixed, "w") as d:
        for n in src.namelist():
            d.writestr(n, src.read(n))
        d.writestr("00000/zz.npy", b"\x93NUMPY too short")
    with pytest.raises(DataError) as e:
        load_dataset(data_cfg(f"zip:{mixed}", stream=True))
    assert "differ in size" in one_line(e)


def test_pack_command_writes_raw_and_can_repack_it_as_png(packed, tmp_path, capsys):
    png, raw = packed
    assert main(["data", "pack", str(raw), str(tmp_path / "again.zip")]) == 0
    assert "packed 33 images (16x16 RGB, 3 classes) into" in capsys.readouterr().out
    a = load_dataset(data_cfg(f"zip:{png}", stream=False))
    b = load_dataset(data_cfg(f"zip:{tmp_path / 'again.zip'}", stream=False))
    assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    assert main(["data", "pack", str(png), str(tmp_path / "r.zip"), "--format", "raw"]) == 0
    assert "(16x16 RGB, 3 classes, raw uint8) into" in capsys.readouterr().out
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "r.zip").stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    with zipfile.ZipFile(raw) as x, zipfile.ZipFile(tmp_path / "r.zip") as y:
        assert all(x.read(n) == y.read(n) for n in x.namelist())
