from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.data.paired import (PairedDataset, UnpairedDataset, mirror, parse_options,
                                random_crop, rotate90, synthetic_paired, synthetic_unpaired)
from gankit.data.paired_builtin import sobel_edges
from gankit.errors import DataError





def test_crop_and_mirror_keep_pairs_aligned():
    ds = synthetic_paired(n=16, channels=3, resolution=16, load_size=20)
    ds.flip = True
    loader = ds.loader(8, seed=3)
    for _ in range(4):
        b = next(loader)
        assert b["A"].shape == b["B"].shape == (8, 3, 16, 16)
        assert b["A"].dtype == torch.float32 and b["A"].min() >= -1 and b["A"].max() <= 1
        # B is the negative of A pixel by pixel; jitter and mirror must not break that
        torch.testing.assert_close(b["B"], -b["A"], atol=1e-6, rtol=0)


def test_jitter_crops_vary_and_cover_the_stored_image():
    a = torch.arange(20 * 20, dtype=torch.float32).view(1, 1, 20, 20).expand(64, 1, 20, 20)
    (c,) = random_crop([a], 16, torch.Generator().manual_seed(0))
    corners = {float(x) for x in c[:, 0, 0, 0]}
    assert len(corners) > 5  # many different offsets
    assert max(corners) <= 4 * 20 + 4  # offsets stay within 0..4 in both axes
    # each crop is a contiguous window of the original
    oy, ox = divmod(int(c[0, 0, 0, 0]), 20)
    torch.testing.assert_close(c[0, 0], a[0, 0, oy:oy + 16, ox:ox + 16])


def test_mirror_flips_same_examples_in_both():
    x = torch.randn(32, 1, 4, 4)
    a, b = mirror([x, x.clone()], torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    flipped = [(a[i] != x[i]).any().item() for i in range(32)]
    assert 5 < sum(flipped) < 27


def test_rotate90_turns_each_pair_alike_by_all_four_angles():
    x = torch.randn(64, 2, 5, 5)
    a, b = rotate90([x, -x], torch.Generator().manual_seed(2))
    torch.testing.assert_close(b, -a)  # both tensors of a pair turn by the same angle
    turns = []
    for i in range(64):
        k = [t for t in range(4) if torch.equal(a[i], torch.rot90(x[i], t, (-2, -1)))]
        assert len(k) == 1
        turns.append(k[0])
    assert set(turns) == {0, 1, 2, 3}


def test_rot90_option_is_for_training_pairs_only(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        _save(tmp_path / "p" / "A" / f"{i}.png", a)
        _save(tmp_path / "p" / "B" / f"{i}.png", 255 - a)
    spec = f"paired:{tmp_path / 'p'}?jitter=1&rot90=1"
    train = load_dataset(DataConfig(dataset=spec, resolution=16))
    assert train.rot90 and not load_dataset(DataConfig(dataset=spec, resolution=16,
                                                       split="test")).rot90
    b = train.get_batch(torch.tensor([0] * 32), torch.Generator().manual_seed(0), "cpu")
    assert (b["A"] + b["B"]).abs().max() < 0.01  # pairs stay aligned
    assert len({tuple(b["A"][i, 0, 0, :2].tolist()) for i in range(32)}) == 4  # 4 corners
    with pytest.raises(DataError, match="rot90 must be 0 or 1"):
        load_dataset(DataConfig(dataset=f"paired:{tmp_path / 'p'}?rot90=2", resolution=16))


def test_paired_loader_is_exactly_resumable():
    ds = synthetic_paired(n=10, channels=1, resolution=8, load_size=10)
    ds.flip = True
    ref = ds.loader(4, seed=7)
    batches = [next(ref) for _ in range(6)]
    resumed = ds.loader(4, seed=7)
    resumed.load_state_dict({"drawn": 3, "seed": 7, "batch_size": 4, "world": 1})
    for k in range(3, 6):
        b = next(resumed)
        torch.testing.assert_close(b["A"], batches[k]["A"])


def test_unpaired_draws_b_from_its_own_permutation():
    ds = synthetic_unpaired(n_a=6, n_b=4, channels=1, resolution=8)
    assert len(ds) == 6 and ds.info.kind == "unpaired"
    loader = ds.loader(2, seed=1)
    ia = torch.cat([loader.indices(k) for k in range(3)])
    ib = torch.cat([loader.indices_b(k) for k in range(2)])
    assert sorted(ia.tolist()) == list(range(6))       # one A epoch
    assert sorted(ib.tolist()) == list(range(4))       # one B epoch, its own size
    # B is not a function of A: the pairing changes between A epochs
    pairs = {(int(loader.indices(k)[j]), int(loader.indices_b(k)[j]))
             for k in range(12) for j in range(2)}
    assert len(pairs) > 6


def test_unpaired_batches_and_resume():
    ds = synthetic_unpaired(n_a=5, n_b=3, channels=3, resolution=8)
    ref = ds.loader(4, seed=2)
    batches = [next(ref) for _ in range(5)]
    assert batches[0]["A"].shape == batches[0]["B"].shape == (4, 3, 8, 8)
    assert all(b["B"].min() >= 0 for b in batches)       # B domain is the bright one
    assert all(b["A"].max() < 0.01 for b in batches)
    resumed = ds.loader(4, seed=2)
    resumed.load_state_dict(ref.state_dict() | {"drawn": 2})
    for k in range(2, 5):
        b = next(resumed)
        torch.testing.assert_close(b["A"], batches[k]["A"])
        torch.testing.assert_close(b["B"], batches[k]["B"])


def test_unpaired_ranks_slice_one_global_batch():
    ds = synthetic_unpaired(n_a=7, n_b=5, channels=1, resolution=8)
    one = ds.loader(4, seed=0)
    r0, r1 = ds.loader(2, seed=0, rank=0, world=2), ds.loader(2, seed=0, rank=1, world=2)
    for k in range(5):
        torch.testing.assert_close(torch.cat([r0.indices(k), r1.indices(k)]), one.indices(k))
        torch.testing.assert_close(torch.cat([r0.indices_b(k), r1.indices_b(k)]),
                                   one.indices_b(k))


def test_shape_checks():
    a = torch.zeros(2, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(DataError, match="one B for every A"):
        PairedDataset(a, a[:1])
    with pytest.raises(DataError, match="differ in shape"):
        UnpairedDataset(a, torch.zeros(2, 1, 8, 8, dtype=torch.uint8))
    with pytest.raises(DataError, match="larger than the stored"):
        PairedDataset(a, a, 16)


def test_options():
    assert parse_options("/x/y?jitter=1.2&direction=BtoA") == (
        "/x/y", {"jitter": "1.2", "direction": "BtoA"})
    with pytest.raises(DataError, match="key=value"):
        parse_options("/x?jitter")


def _save(path: Path, arr: np.ndarray):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_paired_folder_side_by_side_and_two_folders(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):  # side by side, odd size: 30 x 61 -> halves of 30 x 30
        a = rng.integers(0, 256, (30, 30, 3), dtype=np.uint8)
        _save(tmp_path / "sbs" / "train" / f"{i}.png", np.concatenate([a, 255 - a, a[:, :1]], 1))
        _save(tmp_path / "two" / "A" / f"im{i}.png", a)
        _save(tmp_path / "two" / "B" / f"im{i}.png", 255 - a)
    ds = load_dataset(DataConfig(dataset=f"paired:{tmp_path / 'sbs'}?jitter=1.25",
                                 resolution=16, flip=True))
    assert ds.info.kind == "paired" and len(ds) == 3 and ds.info.channels == 3
    assert ds.A.shape[-1] == 20  # stored at 1.25 x 16 for jitter
    b = ds.get_batch(torch.arange(3), torch.Generator().manual_seed(0), "cpu")
    assert b["A"].shape == (3, 3, 16, 16)
    # B is the negative of A up to resampling error
    assert (b["A"] + b["B"]).abs().mean() < 0.05
    ds2 = load_dataset(DataConfig(dataset=f"paired:{tmp_path / 'two'}?direction=BtoA",
                                  resolution=16, split="test"))
    assert ds2.A.shape == (3, 3, 16, 16)
    assert (to_f(ds2.A) + to_f(ds2.B)).abs().max() < 0.02  # BtoA swapped domains, still paired
    (tmp_path / "two" / "B" / "im2.png").unlink()
    with pytest.raises(DataError, match="same file names"):
        load_dataset(DataConfig(dataset=f"paired:{tmp_path / 'two'}", resolution=16))


def to_f(x):
    return x.float() / 127.5 - 1


def test_unpaired_folder(tmp_path):
    rng = np.random.default_rng(1)
    for d, n in (("trainA", 3), ("trainB", 5)):
        for i in range(n):
            _save(tmp_path / d / f"{i}.jpg", rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8))
    (tmp_path / "trainA" / "notes.txt").write_text("not an image")
    ds = load_dataset(DataConfig(dataset=f"unpaired:{tmp_path}", resolution=16))
    assert isinstance(ds, UnpairedDataset)
    assert ds.A.shape == (3, 3, 16, 16) and ds.B.shape == (5, 3, 16, 16)
    with pytest.raises(DataError, match="testA"):
        load_dataset(DataConfig(dataset=f"unpaired:{tmp_path}", split="test"))
    with pytest.raises(DataError, match="unknown option"):
        load_dataset(DataConfig(dataset=f"unpaired:{tmp_path}?jitter=1.1"))


def test_sobel_edges_mark_object_borders():
    x = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    x[..., 4:12, 4:12] = 255
    e = sobel_edges(x)
    assert e.dtype == torch.uint8 and set(e.unique().tolist()) == {0, 255}
    assert e[0, 0, 8, 4] == 0 or e[0, 0, 8, 3] == 0   # border is an edge (black)
    assert e[0, 0, 8, 8] == 255 and e[0, 0, 0, 0] == 255  # flat regions are background


def test_maps_split_and_unpaired_halves(real_data):
    root = str(real_data)
    test = load_dataset(DataConfig(dataset="maps", split="test", resolution=32, root=root))
    assert len(test) == 10 and test.info.resolution == 32 and test.A.shape[-1] == 32
    train = load_dataset(DataConfig(dataset="maps:jitter=1.25", resolution=32, limit=4,
                                    root=root))
    assert train.A.shape == (4, 3, 40, 40)
    un = load_dataset(DataConfig(dataset="maps-unpaired", resolution=32, root=root))
    assert un.A.shape[0] == 45 and un.B.shape[0] == 45
    # maps (B) of the unpaired set come from the second half: the first map is pair 46's
    assert not torch.equal(un.B[0], train.B[0])


def test_edges2fashion_and_digits_style(real_data):
    root = str(real_data)
    e = load_dataset(DataConfig(dataset="edges2fashion", split="test", limit=50, root=root,
                                download=False))
    assert e.info.kind == "paired" and e.A.shape == (50, 1, 32, 32)
    assert (e.A[:, :, 0] == 255).float().mean() > 0.95  # white padding around edges
    d = load_dataset(DataConfig(dataset="digits-style", split="test", limit=40, root=root,
                                download=False))
    assert d.info.kind == "unpaired" and d.info.channels == 3 and d.info.resolution == 32
    assert d.A.shape == d.B.shape == (40, 3, 32, 32)
    assert d.labels_A.shape == (40,) and d.labels_B.shape == (40,)
    # A is grey (equal channels); B has a coloured background
    assert torch.equal(d.A[:, 0], d.A[:, 2])
    assert (d.B[:, 2, 0, 0].float() - d.B[:, 0, 0, 0].float()).mean() > 50


def test_corrupt_files_are_skipped_with_a_warning(tmp_path, caplog):
    rng = np.random.default_rng(2)
    for i in range(3):
        a = rng.integers(0, 256, (16, 32, 3), dtype=np.uint8)
        _save(tmp_path / "p" / f"{i}.png", a)
        for d, n in (("trainA", 3), ("trainB", 2)):
            if i < n:
                _save(tmp_path / "u" / d / f"{i}.png", a[:, :16])
    (tmp_path / "p" / "bad.png").write_bytes(b"not a png")
    (tmp_path / "u" / "trainB" / "bad.jpg").write_bytes(b"\xff\xd8 truncated")
    ds = load_dataset(DataConfig(dataset=f"paired:{tmp_path / 'p'}", resolution=8))
    assert len(ds) == 3 and "skipped 1 unreadable" in caplog.text
    un = load_dataset(DataConfig(dataset=f"unpaired:{tmp_path / 'u'}", resolution=8))
    assert un.A.shape[0] == 3 and un.B.shape[0] == 2
