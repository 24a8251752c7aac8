"""Hostile inputs through the command line: every one ends in a clear message (exit code 2,
the file or key named, what to do, no traceback), or, where the data layer's policy is to
skip a bad file among good ones, in a warning naming it. A run folder that already holds a
run is never changed by a failed command.

Labels *files* are not covered: the data layer has none (labels come from class subfolders of
an image folder or from an npz ``labels`` array); bad npz labels are tested instead.
"""
from __future__ import annotations

import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from runkit import tiny_raw, write_yaml

from gankit.cli import main


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Decoded-image caches go to the test's folder, not the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("GANKIT_DATA", raising=False)


def cli(argv, capsys) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


def data_raw(dataset: str, **data) -> dict:
    raw = tiny_raw(steps=2, checkpoint_every=0, sample_every=0)
    raw["data"] = {"dataset": dataset, "resolution": 16, "flip": False, **data}
    return raw


# --------------------------------------------------------------------------- image folders

def png_bomb(path: Path, side: int = 100_000) -> None:
    """A 100 kB PNG whose header claims side x side pixels (10 gigapixels when decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    row = b"\x00" + bytes(side)
    idat = zlib.compressobj(9).compress(row * 8)  # a few rows; the header is what matters
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))


def good_images(folder: Path) -> list[str]:
    """Images of every mode a user may have, at odd sizes, each a valid file."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    made = []

    def save(name, img, **kw):
        img.save(folder / name, **kw)
        made.append(name)

    save("grey.png", Image.fromarray(rng.integers(0, 256, (23, 17), np.uint8), "L"))
    save("grey-alpha.png", Image.fromarray(rng.integers(0, 256, (9, 40, 2), np.uint8), "LA"))
    save("palette.png", Image.fromarray(rng.integers(0, 256, (31, 31, 3), np.uint8))
         .convert("P", palette=Image.Palette.ADAPTIVE))
    save("rgba.png", Image.fromarray(rng.integers(0, 256, (16, 64, 4), np.uint8), "RGBA"))
    save("cmyk.jpg", Image.fromarray(rng.integers(0, 256, (33, 20, 4), np.uint8), "CMYK"))
    sixteen = Image.fromarray(rng.integers(0, 65535, (18, 18), np.uint16))
    assert sixteen.mode == "I;16"
    save("sixteen-bit.png", sixteen)
    save("tiny.bmp", Image.fromarray(rng.integers(0, 256, (1, 1, 3), np.uint8), "RGB"))
    save("wide.webp", Image.fromarray(rng.integers(0, 256, (5, 300, 3), np.uint8), "RGB"))
    return made


def bad_images(folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    Image.new("RGB", (64, 64), "red").save(folder / "whole.png")
    data = (folder / "whole.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "whole.png").unlink()
    (folder / "not-an-image.jpg").write_text("this is a text file with an image name\n")
    png_bomb(folder / "bomb.png")
    return ["empty.png", "truncated.png", "not-an-image.jpg", "bomb.png"]


def test_folder_of_only_bad_files_fails_clearly(tmp_path, capsys):
    folder = tmp_path / "imgs"
    bad = bad_images(folder)
    cfg = write_yaml(tmp_path / "c.yaml", data_raw(f"folder:{folder}"))
    rc, err = cli(["train", cfg, "--out", str(tmp_path / "run")], capsys)
    assert rc == 2
    assert str(folder) in err and "could be read" in err
    named = [b for b in bad if b in err]
    assert len(named) >= 3, err  # the message names the files (a few of them)
    assert not list((tmp_path / "run").glob("checkpoints/*.pt"))


def test_bad_files_among_good_ones_are_skipped_and_named(tmp_path, capsys, caplog):
    folder = tmp_path / "imgs"
    good = good_images(folder)
    bad = bad_images(folder)
    cfg = write_yaml(tmp_path / "c.yaml", data_raw(f"folder:{folder}", channels=3))
    with caplog.at_level(logging.INFO, logger="gankit"):
        rc, err = cli(["train", cfg, "--out", str(tmp_path / "run")], capsys)
    assert rc == 0, err
    log = caplog.text
    assert f"skipped {len(bad)} unreadable image file(s) of {len(good) + len(bad)}" in log
    for name in bad:
        assert name in log, name
    assert f"{len(good)} example(s)" in log  # every mode and odd size was read


def test_mixed_modes_and_odd_sizes_decode_alike(tmp_path):
    from gankit.config import config_from_dict
    from gankit.data import load_dataset

    folder = tmp_path / "imgs"
    good = good_images(folder)
    for channels in (1, 3):
        ds = load_dataset(config_from_dict(data_raw(f"folder:{folder}", channels=channels)).data)
        assert tuple(ds.images.shape) == (len(good), channels, 16, 16)
        assert str(ds.images.dtype) == "torch.uint8"
        assert int(ds.images.float().std()) > 0  # decoded pixels, not a blank fill


# --------------------------------------------------------------------------- npz files

def npz_cases(tmp: Path) -> dict[str, tuple[Path, str]]:
    """(file, words the message must contain) for npz files a user might get wrong."""
    rng = np.random.default_rng(0)
    ok = rng.integers(0, 256, (8, 16, 16, 1), np.uint8)
    cases = {}

    def npz(name, expect, **arrays):
        path = tmp / f"{name}.npz"
        np.savez(path, **arrays)
        cases[name] = (path, expect)

    npz("float-images", "dtype float32", images=ok.astype(np.float32) / 255)
    npz("int64-images", "dtype int64", images=ok.astype(np.int64))
    npz("five-dims", "shape", images=ok[None])
    npz("one-dim", "shape", images=ok.reshape(-1))
    npz("rgba", "shape", images=np.repeat(ok, 4, axis=3))
    npz("no-images", "no 'images'", pictures=ok)
    npz("zero-images", "no images", images=ok[:0])
    npz("labels-too-short", "'labels' has shape", images=ok, labels=np.arange(3))
    npz("labels-float", "'labels' has dtype", images=ok, labels=np.linspace(0, 1, 8))
    npz("labels-negative", "negative", images=ok, labels=-np.arange(8))
    npz("object-array", "pickle", images=np.array([ok, "x"], dtype=object))
    (tmp / "text.npz").write_text("not numpy\n")
    cases["text"] = (tmp / "text.npz", "not a readable .npz")
    whole = (tmp / "float-images.npz").read_bytes()
    (tmp / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    cases["truncated"] = (tmp / "truncated.npz", "npz")
    return cases


def test_bad_npz_files(tmp_path, capsys):
    for name, (path, expect) in npz_cases(tmp_path).items():
        cfg = write_yaml(tmp_path / f"{name}.yaml", data_raw(f"npz:{path}"))
        rc, err = cli(["train", cfg, "--out", str(tmp_path / f"run-{name}")], capsys)
        assert rc == 2, name
        assert str(path) in err and expect in err, (name, err)


# --------------------------------------------------------------------------- configs

CONFIG_CASES = {
    # overrides: (the override, words the message must contain)
    "unknown train key": ("train.stepz=5", "train.stepz: unknown key; did you mean steps?"),
    "unknown model key": ("model.ngff=5", "model.ngff: unknown key"),
    "unknown data key": ("data.resolutoin=16", "did you mean resolution?"),
    "unknown section": ("trian.steps=5", "trian: unknown section; did you mean train?"),
    "unknown model": ("model.name=gann", "unknown model 'gann'; did you mean gan?"),
    "string for int": ("train.batch_size=eight", "train.batch_size: expected an integer"),
    "float for int": ("train.steps=2.5", "train.steps: expected an integer"),
    "bool for int": ("train.steps=true", "train.steps: expected an integer"),
    "list for number": ("train.lr_g=[1,2]", "train.lr_g: expected a number"),
    "string for bool": ("data.flip=maybe", "data.flip: expected true or false"),
    "number for list": ("model.g_hidden=32", "model.g_hidden: expected a list"),
    "bad choice": ("train.amp=fp8", "train.amp: 'fp8' is not one of"),
    "negative batch": ("train.batch_size=-4", "train.batch_size: -4 is below the minimum 1"),
    "zero steps": ("train.steps=0", "train.steps: 0 is below the minimum 1"),
    "negative resolution": ("data.resolution=-16", "data.resolution: -16 is below the minimum"),
    "negative z": ("model.z_dim=-8", "model.z_dim: -8 is below the minimum 1"),
    "negative lr": ("train.lr_d=-0.1", "train.lr_d: -0.1 is below the minimum"),
    "NaN lr": ("train.lr_g=.nan", "train.lr_g: must be a finite number"),
    "NaN as text": ("train.lr_g=nan", "train.lr_g: must be a finite number"),
    "Inf lr": ("train.lr_d=.inf", "train.lr_d: must be a finite number"),
    "-Inf beta": ("train.beta1=-.inf", "train.beta1: must be a finite number"),
    "NaN decay": ("train.ema_decay=.nan", "train.ema_decay: must be a finite number"),
    "not key=value": ("train.steps", "must look like section.key=value"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_config_overrides(tmp_path, capsys, case):
    override, expect = CONFIG_CASES[case]
    cfg = write_yaml(tmp_path / "c.yaml", tiny_raw(steps=2))
    rc, err = cli(["train", cfg, override, "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and expect in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("items", [[-3], [0], [3.5]])
def test_bad_layer_widths(tmp_path, capsys, items):
    cfg = write_yaml(tmp_path / "c.yaml", tiny_raw(steps=2))
    rc, err = cli(["train", cfg, "--out", str(tmp_path / "run"), f"model.g_hidden={items}"],
                  capsys)
    assert rc == 2 and "model.g_hidden" in err, err


YAML_CASES = {
    "invalid yaml": ("train: {steps: [1, 2\n", "is not valid YAML"),
    "a list": ("- 1\n- 2\n", "must hold a mapping of sections"),
    "a section that is a value": ("train: 5\n", "train: must be a mapping"),
    "unknown key in the file": ("train:\n  batch: 8\n", "train.batch: unknown key"),
    "non-finite in the file": ("train:\n  lr_g: .inf\n", "train.lr_g: must be a finite number"),
    "negative size in the file": ("train:\n  grid_size: -1\n", "train.grid_size: -1 is below"),
    # issue 17: a 373-byte alias bomb used to hang the loader, a self-containing one to recurse
    "alias bomb": ("a: &a [x, x, x, x, x, x, x, x, x]\n"
                   + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n"
                             for p, c in zip("abcdefgh", "bcdefghi")),
                   "YAML aliases (*name) are not allowed"),
    "recursive": ("train: &t\n  x: *t\n", "YAML aliases (*name) are not allowed"),
    "deep nesting": ("train: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
}


@pytest.mark.parametrize("case", list(YAML_CASES))
def test_bad_config_files(tmp_path, capsys, case):
    text, expect = YAML_CASES[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    rc, err = cli(["train", str(path), "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and expect in err, err
    assert not (tmp_path / "run").exists()


def _not_utf8(tmp: Path) -> Path:
    (tmp / "latin1.yaml").write_bytes("train:\n  steps: 3 # \xe9t\xe9\n".encode("latin-1"))
    return tmp / "latin1.yaml"


def _a_directory(tmp: Path) -> Path:
    (tmp / "cfg.yaml").mkdir()
    return tmp / "cfg.yaml"


def _too_large(tmp: Path) -> Path:
    (tmp / "big.yaml").write_text("# " + "x" * (2 << 20) + "\n")
    return tmp / "big.yaml"


@pytest.mark.parametrize("make, expect", [(_not_utf8, "is not UTF-8 text"),
                                          (_a_directory, "is a directory"),
                                          (_too_large, "too large for a config")])
def test_config_paths_that_are_not_yaml_text(tmp_path, capsys, make, expect):
    rc, err = cli(["train", str(make(tmp_path)), "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and expect in err, err
    assert not (tmp_path / "run").exists()


def test_an_override_that_is_not_yaml_stays_text():
    from gankit.config import parse_override

    assert parse_override("data.root=*.png") == (["data", "root"], "*.png")


# --------------------------------------------------------------------------- existing runs

@pytest.fixture(scope="module")
def existing_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("existing")
    cfg = write_yaml(tmp / "run.yaml", tiny_raw(steps=4, checkpoint_every=2, sample_every=0))
    assert main(["train", cfg, "--out", str(tmp / "run")]) == 0
    return cfg, tmp / "run"


def folder_state(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*"))
            if p.is_file() and p.name != "log.txt"}


def test_failed_commands_leave_an_existing_run_untouched(existing_run, tmp_path, capsys):
    cfg, run = existing_run
    before, log_before = folder_state(run), (run / "log.txt").read_text()
    folder = tmp_path / "imgs"
    bad_images(folder)
    npz = npz_cases(tmp_path)["float-images"][0]
    dcgan = tiny_raw(steps=8)
    dcgan["model"] = {"name": "dcgan", "ngf": 4, "ndf": 4, "z_dim": 8}
    dcgan["data"]["resolution"] = 32
    bigger = tiny_raw(steps=8)
    bigger["model"]["g_hidden"] = [64]
    attempts = {
        "bad folder": (write_yaml(tmp_path / "f.yaml", {**tiny_raw(steps=8), "data":
                                                        data_raw(f"folder:{folder}")["data"]}),
                       "could be read"),
        "bad npz": (write_yaml(tmp_path / "n.yaml", {**tiny_raw(steps=8), "data":
                                                     data_raw(f"npz:{npz}")["data"]}),
                    "dtype float32"),
        "another model": (write_yaml(tmp_path / "d.yaml", dcgan), "holds a 'gan' model"),
        "other widths": (write_yaml(tmp_path / "w.yaml", bigger), "different model settings"),
        "bad override": (cfg, "train.lr_g: must be a finite number"),
    }
    for what, (config, expect) in attempts.items():
        extra = ["train.lr_g=.nan"] if what == "bad override" else []
        rc, err = cli(["train", config, "--out", str(run), "--resume", "auto", *extra], capsys)
        assert rc == 2 and expect in err, (what, err)
        assert folder_state(run) == before, what
        assert (run / "log.txt").read_text().startswith(log_before), what
    # and a fresh start into it is refused
    rc, err = cli(["train", cfg, "--out", str(run)], capsys)
    assert rc == 2 and "already holds a run" in err
    assert folder_state(run) == before


def test_sample_from_a_foreign_checkpoint(tmp_path, capsys):
    bad = tmp_path / "weights.pt"
    bad.write_bytes(b"\x00" * 100)
    rc, err = cli(["sample", str(bad), "--seeds", "0-3", "--out", str(tmp_path / "g.png")],
                  capsys)
    assert rc == 2 and str(bad) in err
    assert not (tmp_path / "g.png").exists()


# --------------------------------------------------------------------------- absurd sizes

@pytest.mark.parametrize("override, key", [
    ("train.batch_size=100000000", "lower train.batch_size"),
    ("model.z_dim=1000000000", "lower model.z_dim"),
    ("model.g_hidden=[100000,100000,100000]", "lower model.g_hidden"),
    ("data.resolution=100000", "lower data.resolution"),
    ("train.grid_size=100000000", "lower train.grid_size"),
    ("train.threads=100000", "use at most"),
])
def test_absurd_sizes_are_refused_before_allocating(tmp_path, capsys, override, key):
    # issue 17: these ended in allocator tracebacks after a long wait
    cfg = write_yaml(tmp_path / "run.yaml", tiny_raw(steps=2, checkpoint_every=0,
                                                     sample_every=0))
    rc, err = cli(["train", cfg, override, "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and key in err, err
    assert "GiB" in err or "threads" in err
    assert not list((tmp_path / "run").glob("checkpoints/*.pt"))


def test_resume_onto_data_of_another_shape(existing_run, tmp_path, capsys):
    # issue 17: a size-mismatch traceback from load_state_dict
    cfg, run = existing_run
    before = folder_state(run)
    rc, err = cli(["train", cfg, "data.resolution=32", "--resume", "auto", "--out", str(run)],
                  capsys)
    assert rc == 2 and "trained on other data (resolution 16 -> 32)" in err, err
    assert folder_state(run) == before


@pytest.mark.parametrize("edit, words", [
    (lambda m: [m], "is not a gankit generator export"),
    (lambda m: {k: v for k, v in m.items() if k != "data_info"}, "incomplete or damaged"),
    (lambda m: {**m, "generator_nets": ["H"]}, "names a network 'H'"),
    (lambda m: {**m, "config": {**m["config"], "model": {**m["config"]["model"],
                                                         "g_hidden": [64]}}},
     "does not match its config.json"),
])
def test_a_damaged_export_config(existing_run, tmp_path, capsys, edit, words):
    # issue 17: a bad export config.json gave KeyError / AttributeError tracebacks
    import json
    import shutil

    _, run = existing_run
    export = tmp_path / "export"
    shutil.copytree(run / "export", export)
    meta = json.loads((export / "config.json").read_text())
    (export / "config.json").write_text(json.dumps(edit(meta)))
    rc, err = cli(["sample", str(export), "--seeds", "0-1", "--out", str(tmp_path / "s.png")],
                  capsys)
    assert rc == 2 and words in err, err


def test_a_stray_huge_label_is_named_not_allocated(tmp_path, capsys):
    # issue 17: a cgan on an npz with one label of 1e6 tried to allocate 12.5 GB
    images = np.random.default_rng(0).integers(0, 256, (16, 16, 16), np.uint8)
    labels = np.zeros(16, np.int64)
    labels[3] = 1_000_000
    np.savez(tmp_path / "lab.npz", images=images, labels=labels)
    raw = data_raw(f"npz:{tmp_path / 'lab.npz'}")
    raw["model"] = {"name": "cgan"}
    cfg = write_yaml(tmp_path / "run.yaml", raw)
    rc, err = cli(["train", cfg, "--out", str(tmp_path / "run")], capsys)
    assert rc == 2 and "1,000,001" in err and "check its labels" in err, err


def test_symlink_loops_in_an_image_folder_do_not_stop_loading(tmp_path, capsys):
    # issue 17: a self-referencing link aborted loading the whole folder (ELOOP)
    root = tmp_path / "imgs"
    (root / "a").mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(root / "a" / f"{i}.png")
    (root / "self").symlink_to("self")  # a loop
    (root / "a" / "up").symlink_to("..", target_is_directory=True)  # a cycle
    cfg = write_yaml(tmp_path / "run.yaml", data_raw(f"folder:{root}"))
    rc, err = cli(["train", cfg, "--out", str(tmp_path / "run")], capsys)
    assert rc == 0, err


def test_a_torn_export_pair_is_recognised(existing_run, tmp_path, capsys):
    # issue 17: the export's two files were each atomic but not as a pair
    import shutil

    _, run = existing_run
    export = tmp_path / "export"
    shutil.copytree(run / "export", export)
    blob = bytearray((export / "generator.safetensors").read_bytes())
    blob[-1] ^= 1  # other weights under the same config.json
    (export / "generator.safetensors").write_bytes(bytes(blob))
    rc, err = cli(["sample", str(export), "--seeds", "0-1", "--out", str(tmp_path / "s.png")],
                  capsys)
    assert rc == 2 and "is not the file its config.json was written with" in err, err
