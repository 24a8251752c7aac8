"""Streamed folders and zips give exactly the in-memory path's batches, and resume exactly.

The StreamLoader's batches (indices, flips, labels) must equal BatchLoader's for the same seed
whatever the number of DataLoader workers, each DDP rank must get its slice of the global
batch, and a run streamed with 2 workers and interrupted must end bit-identical to an
uninterrupted one (and to the same run from memory).
"""
from __future__ import annotations

import logging
import zipfile

import pytest
import torch
from imagesets import make_folder
from states import assert_resumes_exactly, assert_states_equal, latest, stream_run_config

from gankit.config import config_from_dict
from gankit.data import load_dataset
from gankit.data import stream as stream_mod
from gankit.data.base import ImageDataset
from gankit.data.pack import pack_images
from gankit.data.stream import StreamDataset
from gankit.errors import DataError
from gankit.train.trainer import train


def data_cfg(spec, **kw):
    return config_from_dict({"data": {"dataset": spec, "resolution": 16, "flip": True,
                                      **kw}}).data


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("stream")
    folder = make_folder(root / "imgs", n_per_class=11, classes=("a", "b", "c"))
    pack_images(folder, root / "set.zip", resolution=16)
    return folder, root / "set.zip"


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_streamed_batches_equal_in_memory_batches(images, kind, workers):
    folder, packed = images
    spec = f"folder:{folder}" if kind == "folder" else f"zip:{packed}"
    memory = load_dataset(data_cfg(spec, stream=False))
    streamed = load_dataset(data_cfg(spec, stream=True, workers=workers))
    assert isinstance(memory, ImageDataset) and isinstance(streamed, StreamDataset)
    assert streamed.info.to_dict() == memory.info.to_dict()
    # 33 images, batch 8: batches span epochs, so the permutation walk is exercised too
    a, b = memory.loader(8, seed=5), streamed.loader(8, seed=5)
    flipped = 0
    for _ in range(10):
        x, y = next(a), next(b)
        assert torch.equal(x["real"], y["real"]) and torch.equal(x["label"], y["label"])
        flipped += int((x["real"] != x["real"].flip(-1)).any())
    assert flipped  # the flips were really drawn (random images are not symmetric)


def test_ranks_read_their_slices_of_the_global_batch(images):
    _, packed = images
    memory = load_dataset(data_cfg(f"zip:{packed}", stream=False))
    streamed = load_dataset(data_cfg(f"zip:{packed}", stream=True, workers=1))
    one = memory.loader(8, seed=2)
    ranks = [streamed.loader(4, seed=2, rank=r, world=2) for r in range(2)]
    decoded = []
    original = streamed.decode
    streamed.decode = lambda index, *a: decoded.append(len(index)) or original(index, *a)
    for _ in range(3):
        whole = next(one)
        parts = [next(r) for r in ranks]
        for key in ("real", "label"):
            assert torch.equal(whole[key], torch.cat([p[key] for p in parts]))
    # the first batch of each rank is decoded in this process (then the workers take over):
    # 4 images each, never the global 8
    assert decoded == [4, 4]


def test_loader_resumes_at_the_same_batch_with_workers(images):
    _, packed = images
    ds = load_dataset(data_cfg(f"zip:{packed}", stream=True, workers=2))
    full = ds.loader(5, seed=1)
    expected = [next(full)["real"] for _ in range(9)]
    cut = ds.loader(5, seed=1)
    for _ in range(4):  # the workers have prefetched past batch 4 by now
        next(cut)
    state = cut.state_dict()
    again = ds.loader(5, seed=1)
    again.load_state_dict(state)
    assert all(torch.equal(next(again)["real"], e) for e in expected[4:])
    cut.load_state_dict(state)  # the same loader, rewound: prefetched batches are dropped
    assert torch.equal(next(cut)["real"], expected[4])


run_cfg = stream_run_config


def test_exact_resume_streaming_with_two_workers(images, tmp_path):
    _, packed = images
    cfg = run_cfg(f"zip:{packed}", stream=True, workers=2)
    assert_resumes_exactly(cfg, tmp_path, at=3)
    # and the streamed run is the in-memory run, bit for bit
    train(run_cfg(f"zip:{packed}", stream=False), tmp_path / "memory")
    assert_states_equal(latest(tmp_path / "full"), latest(tmp_path / "memory"))
    start = (tmp_path / "full" / "log.txt").read_text()
    assert "(streamed: data.stream=true" in start and "2 worker(s)" in start


def test_corrupt_image_in_a_zip_is_one_line_naming_it(images, tmp_path):
    _, packed = images
    probe = load_dataset(data_cfg(f"zip:{packed}", stream=True, workers=0)).loader(8, seed=0)
    # an image of batch 1, not of batch 0: batch 0 is decoded in this process, batch 1 by a
    # worker, so the error crosses the process boundary
    victim = sorted(set(probe.indices(1).tolist()) - set(probe.indices(0).tolist()))[0]
    name = f"00000/img{victim:08d}.png"
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(packed) as src, zipfile.ZipFile(bad, "w") as dst:
        for n in src.namelist():
            data = src.read(n)
            dst.writestr(n, data[:40] if n == name else data)
    loader = load_dataset(data_cfg(f"zip:{bad}", stream=True, workers=2)).loader(8, seed=0)
    next(loader)
    with pytest.raises(DataError) as e:
        next(loader)
    msg = str(e.value)
    assert "\n" not in msg and f"cannot decode {name}" in msg and "gankit data pack" in msg
    loader.close()


def test_auto_streams_large_sets_and_says_so(images, monkeypatch, caplog):
    folder, packed = images
    caplog.set_level(logging.DEBUG, logger="gankit.data")
    assert isinstance(load_dataset(data_cfg(f"zip:{packed}")), ImageDataset)
    assert "decoded into memory (25.3 kB decoded <= " in caplog.text
    monkeypatch.setattr(stream_mod, "STREAM_BYTES", 1000)  # 33 x 3 x 16 x 16 = 25 kB
    for spec in (f"zip:{packed}", f"folder:{folder}"):
        ds = load_dataset(data_cfg(spec))
        assert isinstance(ds, StreamDataset)
        assert "(streamed: 25.3 kB decoded > 1.0 kB, data.stream=auto; 2 worker(s))" in \
            ds.source
    assert isinstance(load_dataset(data_cfg(f"folder:{folder}", stream=False)), ImageDataset)


def test_evaluation_reads_a_streamed_training_set_batch_by_batch(images):
    from gankit.metrics.sources import training_source

    _, packed = images
    cfg = data_cfg(f"zip:{packed}", stream=True)
    source = training_source(cfg, load_dataset(cfg))
    memory = load_dataset(data_cfg(f"zip:{packed}", stream=False))
    got = torch.cat(list(source.batches(10, 25)))
    assert len(source) == 33 and torch.equal(got, memory.images[:25])
    assert source.cache_key().startswith(f"zip:{packed}:train@16px3ch@")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_streamed_batches_on_cuda_through_pinned_memory(images):
    _, packed = images
    memory = load_dataset(data_cfg(f"zip:{packed}", stream=False))
    streamed = load_dataset(data_cfg(f"zip:{packed}", stream=True, workers=2))
    a = memory.loader(8, seed=4, device="cuda")
    b = streamed.loader(8, seed=4, device="cuda")
    for _ in range(6):  # the first batch in this process, then the pinned worker batches
        x, y = next(a), next(b)
        assert y["real"].is_cuda and y["label"].is_cuda
        assert torch.equal(x["real"], y["real"]) and torch.equal(x["label"], y["label"])
    b.close()


def test_decoding_into_the_batch_gives_the_pixels_of_pil_to_array(tmp_path):
    """The streamed path writes each image plane by plane into the batch, mirrored by Pillow;
    the in-memory folder path decodes to an H x W x C array: same pixels, for EXIF-rotated,
    non-square, grey, palette and alpha images, any channels and crop."""
    import numpy as np
    from PIL import Image

    from gankit.data.archive import ImageFiles, open_image
    from gankit.data.transforms import pil_to_array

    rng = np.random.default_rng(3)
    base = Image.fromarray(rng.integers(0, 256, (18, 27, 3), dtype=np.uint8))
    for o in (1, 3, 6, 8):  # EXIF orientations: none, 180 degrees, 270, 90
        exif = Image.Exif()
        exif[0x0112] = o
        base.save(tmp_path / f"rot{o}.jpg", exif=exif.tobytes())
    base.convert("L").save(tmp_path / "grey.png")
    base.convert("P").save(tmp_path / "palette.png")
    base.convert("RGBA").save(tmp_path / "alpha.png")
    files = ImageFiles(tmp_path)
    assert len(files) == 7
    for res, ch, crop in ((16, 3, 0), (16, 1, 0), (8, 3, 12), (20, 3, 0)):
        for i in range(len(files)):
            with open_image(files.read(i)) as img:
                ref = pil_to_array(img, resolution=res, channels=ch, center_crop=crop)
            for mirror in (False, True):
                out = np.zeros((ch, res, res), np.uint8)
                files.decode_into(i, out, mirror=mirror, center_crop=crop)
                want = (ref[:, ::-1] if mirror else ref).transpose(2, 0, 1)
                assert np.array_equal(out, want), (files.names[i], res, ch, crop, mirror)
