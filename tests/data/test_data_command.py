"""`gankit data info` and `gankit data download` through gankit.cli.main."""
from __future__ import annotations

import numpy as np
from datagen import make_idx_set

from gankit.cli import main
from gankit.utils.io import sha256_of


def test_info_npz(tmp_path, capsys):
    np.savez(tmp_path / "d.npz", images=np.zeros((6, 8, 8, 3), np.uint8),
             labels=np.array([0, 0, 1, 1, 1, 2]))
    assert main(["data", "info", f"npz:{tmp_path / 'd.npz'}"]) == 0
    out = capsys.readouterr().out
    assert "examples: 6" in out and "(6, 3, 8, 8)" in out and "uint8" in out
    assert "classes:  3" in out and str(tmp_path / "d.npz") in out
    assert [line.split()[-1] for line in out.splitlines() if line.startswith("  ")] == \
        ["2", "3", "1"]


def test_info_builtin_with_root_and_split(tmp_path, capsys):
    make_idx_set(tmp_path / "mnist")
    assert main(["data", "info", "mnist", "--data-root", str(tmp_path), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "examples: 10" in out and f"found in: {tmp_path / 'mnist'}" in out


def test_info_missing_dataset(tmp_path, capsys):
    assert main(["data", "info", "fashion-mnist", "--data-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not found. Looked in" in err and str(tmp_path / "fashion_mnist") in err


def test_info_real(real_data, capsys):
    assert main(["data", "info", "mnist", "--data-root", str(real_data), "--split", "test"]) == 0
    out = capsys.readouterr().out
    assert "examples: 10000" in out and "1135" in out


def test_download_unknown_and_no_action(capsys):
    assert main(["data", "download", "celeba"]) == 2
    assert "cannot be downloaded automatically" in capsys.readouterr().err
    assert main(["data"]) == 2


def test_download_command_via_mirror(mirror, tmp_path, monkeypatch, capsys):
    import gankit.data.sources as sources

    make_idx_set(mirror / "mnist", n_train=4, n_test=2)
    files = tuple(sources.RemoteFile(p.name, sha256_of(p), p.stat().st_size)
                  for p in sorted((mirror / "mnist").iterdir()))
    monkeypatch.setitem(sources.CHECKSUMS, "mnist",
                        sources.Remote("mnist", ("http://unused.invalid/",), files))
    assert main(["data", "download", "mnist", "--dir", str(tmp_path / "dl")]) == 0
    assert f"files in {tmp_path / 'dl' / 'mnist'}" in capsys.readouterr().out
    assert main(["data", "info", "mnist", "--data-root", str(tmp_path / "dl")]) == 0
    assert "examples: 4" in capsys.readouterr().out


def test_info_shape_of_datasets_made_per_example(tmp_path, capsys):
    # stacked-mnist builds its images per item (no `images` tensor) and has 1,000 classes:
    # a shape line all the same, and one summary line instead of 1,000 class lines
    make_idx_set(tmp_path / "mnist")
    assert main(["data", "info", "stacked-mnist", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "shape:    (" in out and ", 3, 28, 28) (N x C x H x W, made per example)" in out
    assert "classes:  1000" in out and "examples per class: min 0," in out
    assert len(out.splitlines()) < 10
    assert main(["data", "info", "grid25"]) == 0
    out = capsys.readouterr().out
    assert "examples: 100000" in out and "shape:    (100000, 2) (N x dim, float)" in out
