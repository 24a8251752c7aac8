"""generate.py conventions in `gankit sample` (and --trunc wherever truncation applies)."""
import numpy as np
import pytest
from PIL import Image

import gankit.sampling
from gankit.cli import main


def test_outdir_writes_one_png_per_seed(gan_run, tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["sample", str(gan_run), "--outdir", str(out), "--seeds", "0-9",
                 "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"seed{i:04d}.png" for i in range(10)]
    said = capsys.readouterr().out
    assert "wrote 10 images to" in said and "grid" not in said  # no grid unless --out too
    # each file is the seed's image, as in the npz of the same seeds
    assert main(["sample", str(gan_run), "--seeds", "3,12345", "--npz", str(tmp_path / "s.npz"),
                 "--outdir", str(out), "--device", "cpu"]) == 0
    images = np.load(tmp_path / "s.npz")["images"]
    assert np.array_equal(np.asarray(Image.open(out / "seed0003.png")), images[0, :, :, 0])
    assert (out / "seed12345.png").is_file()


def test_out_folder_and_export_defaults(gan_run, tmp_path, monkeypatch, capsys):
    (tmp_path / "existing").mkdir()
    assert main(["sample", str(gan_run), "--seeds", "0-3", "--out",
                 str(tmp_path / "existing"), "--device", "cpu"]) == 0
    assert (tmp_path / "existing" / "samples.png").is_file()
    assert main(["sample", str(gan_run), "--seeds", "0-3", "--out",
                 str(tmp_path / "new") + "/", "--device", "cpu"]) == 0
    assert (tmp_path / "new" / "samples.png").is_file()
    # the issue's case: `--out some/dir` wrote a PNG file named `dir`
    assert main(["sample", str(gan_run), "--seeds", "0-3", "--out", str(tmp_path / "some/dir"),
                 "--device", "cpu"]) == 0
    assert (tmp_path / "some" / "dir" / "samples.png").is_file()
    assert main(["interpolate", str(gan_run), "--seeds", "0,1", "--steps", "3", "--out",
                 str(tmp_path / "strips") + "/", "--device", "cpu"]) == 0
    assert (tmp_path / "strips" / "interpolation.png").is_file()
    export = gan_run / "export"
    before = sorted(p.name for p in export.iterdir())
    assert main(["sample", str(export), "--seeds", "0-3", "--device", "cpu"]) == 0
    assert sorted(p.name for p in export.iterdir()) == before  # the export is left alone
    assert f"to {gan_run / 'samples.png'}" in capsys.readouterr().out
    (gan_run / "samples.png").unlink()
    # a standalone export folder (no run around it): the current folder
    import shutil

    shutil.copytree(export, tmp_path / "shipped")
    monkeypatch.chdir(tmp_path / "new")
    assert main(["sample", str(tmp_path / "shipped"), "--seeds", "0", "--device", "cpu"]) == 0
    assert sorted(p.name for p in (tmp_path / "shipped").iterdir()) == before
    assert (tmp_path / "new" / "samples.png").stat().st_size > 0


def test_huge_grid_needs_force(gan_run, tmp_path, capsys):
    out = tmp_path / "g.png"
    assert main(["sample", str(gan_run), "--seeds", "0-1024", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "a grid of 1,025 images is very large" in err and "--outdir" in err
    assert "--force" in err and not out.exists()
    assert main(["interpolate", str(gan_run), "--seeds", "0,1,2", "--steps", "600"]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["sample", "SRC", "--seeds", "0-1", "--trunc", "0.5"],
    ["sample", "SRC", "--seeds", "0-1", "--option", "psi=0.5"],
    ["sample", "SRC", "--seeds", "0-1", "--option", "psi=0.5", "--trunc", "0.5"],
    ["grid", "SRC", "--per-class", "2", "--trunc", "0.5"],
    ["interpolate", "SRC", "--seeds", "0,1", "--steps", "3", "--trunc", "0.5"],
])
def test_trunc_is_psi_everywhere(argv, tmp_path, monkeypatch, make_toy):
    gen = make_toy(("sample", "truncate", "conditional"), classes=2)
    monkeypatch.setattr(gankit.sampling, "load_generator", lambda *a, **k: gen)
    argv = [str(tmp_path) if a == "SRC" else a for a in argv]
    assert main(argv + ["--out", str(tmp_path / "x.png")]) == 0
    assert gen.model.calls and all(c["psi"] == 0.5 for c in gen.model.calls)


def test_trunc_conflicts_and_models_without_truncation(gan_run, tmp_path, capsys):
    assert main(["sample", str(gan_run), "--trunc", "0.5", "--option", "psi=0.7"]) == 2
    assert "disagree" in capsys.readouterr().err
    assert main(["sample", str(gan_run), "--trunc", "0.5", "--out", str(tmp_path / "a.png")]) \
        == 2
    assert "takes no generation options, got psi" in capsys.readouterr().err


def test_the_issues_check_on_a_stylegan_run(tmp_path):
    """`gankit sample RUN --outdir d --seeds 0-9 --trunc 0.7` writes 10 PNGs: the images
    gankit.sample gives with trunc=0.7, not the untruncated ones."""
    import gankit
    from gankit.data.base import to_uint8
    from gankit.registry import MODELS

    overrides = MODELS.get("stylegan").contract_overrides
    run = gankit.train({"model": {"name": "stylegan", **overrides},
                        "data": {"dataset": "synthetic:32", "resolution": 16},
                        "train": {"steps": 2, "batch_size": 4, "log_every": 1,
                                  "sample_every": 2, "checkpoint_every": 2, "progress": False,
                                  "threads": 1, "grid_size": 4}}, tmp_path / "run")
    out = tmp_path / "d"
    assert main(["sample", str(run), "--outdir", str(out), "--seeds", "0-9", "--trunc", "0.7",
                 "--device", "cpu"]) == 0
    files = sorted(out.iterdir())
    assert [p.name for p in files] == [f"seed{i:04d}.png" for i in range(10)]
    got = np.stack([np.asarray(Image.open(p)) for p in files])
    want = to_uint8(gankit.sample(run, "0-9", trunc=0.7, device="cpu")).numpy()
    plain = to_uint8(gankit.sample(run, "0-9", device="cpu")).numpy()
    want, plain = (a[:, 0] if a.shape[1] == 1 else a.transpose(0, 2, 3, 1) for a in (want, plain))
    assert np.array_equal(got, want) and not np.array_equal(got, plain)
