import math

import pytest

from gankit.config import (TrainConfig, apply_overrides, config_from_dict, list_presets,
                           load_config)
from gankit.errors import ConfigError


def test_defaults_and_overrides():
    cfg = load_config({"model": {"name": "dcgan"}}, ["train.batch_size=32", "model.ngf=16",
                                                     "train.lr_d=1e-4", "data.flip=true"])
    assert cfg.train.batch_size == 32 and cfg.model.ngf == 16 and cfg.data.flip is True
    assert math.isclose(cfg.train.lr_d, 1e-4)
    assert cfg.train.steps == TrainConfig().steps  # untouched default


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError, match=r"model\.ngff: unknown key; did you mean ngf\?"):
        load_config({"model": {"name": "dcgan"}}, ["model.ngff=32"])
    with pytest.raises(ConfigError, match="did you mean batch_size"):
        load_config({"model": {"name": "gan"}}, ["train.batchsize=3"])
    with pytest.raises(ConfigError, match="unknown section; did you mean train"):
        config_from_dict({"trian": {}})


def test_unknown_model_and_preset():
    with pytest.raises(Exception, match="did you mean dcgan"):
        load_config({"model": {"name": "dcgn"}})
    with pytest.raises(ConfigError, match="no preset or config file"):
        load_config("no-such-preset")


@pytest.mark.parametrize("override, message", [
    ("train.batch_size=abc", "expected an integer"),
    ("train.batch_size=-4", "below the minimum"),
    ("train.batch_size=0", "below the minimum"),
    ("train.lr_g=.nan", "finite"),
    ("train.lr_d=.inf", "finite"),
    ("train.amp=fp8", "not one of"),
    ("data.flip=maybe", "expected true or false"),
    ("train.steps=1.5", "expected an integer"),
    ("model.g_hidden=12", "expected a list"),
    ("train", "section.key=value"),
])
def test_bad_values_are_clear_errors(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config({"model": {"name": "gan"}}, [override])


def test_override_creates_nested_sections():
    raw = apply_overrides({}, ["model.name=gan", "train.steps=5"])
    assert raw == {"model": {"name": "gan"}, "train": {"steps": 5}}


def test_every_preset_loads():
    presets = list_presets()
    assert "mnist-gan" in presets and "fashion-mnist-dcgan" in presets
    for name in presets:
        cfg = load_config(name)
        assert cfg.preset == name
        assert cfg.description, f"preset {name} must state what it trains and how long"


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(lst)


def test_off_on_yes_no_stay_strings(tmp_path):
    """YAML 1.1 would read `off` as False; `train.amp=off` must mean the choice "off"."""
    cfg = load_config({"model": {"name": "dcgan"}}, ["train.amp=off", "data.flip=false"])
    assert cfg.train.amp == "off" and cfg.data.flip is False
    preset = tmp_path / "p.yaml"
    preset.write_text("model:\n  name: dcgan\ntrain:\n  amp: off\n  compile: False\n")
    cfg = load_config(str(preset))
    assert cfg.train.amp == "off" and cfg.train.compile is False
    with pytest.raises(ConfigError, match="train.amp"):
        load_config({"model": {"name": "dcgan"}}, ["train.amp=no"])


def test_base_preset_merges_key_by_key(tmp_path):
    """`base:` starts from another preset or file; the child holds only its differences."""
    long = load_config("faces-stylegan32-long")
    base = load_config("faces-stylegan")
    assert long.preset == "faces-stylegan32-long" and long.description != base.description
    assert (long.data.resolution, long.train.steps, long.train.lr_g) == (32, 6000, 0.002)
    # untouched keys of a section come from the base, not from the defaults
    # keys merge one by one: the model keys the child sets win, the others come from the base
    assert (long.model.mapping_layers, long.model.upsample) == (8, "nearest")
    assert (base.model.mapping_layers, base.model.upsample) == (2, "bilinear")
    assert (long.model.name, long.model.fmap_base, long.model.r1_every) == (
        base.model.name, base.model.fmap_base, base.model.r1_every)
    assert long.data.center_crop == base.data.center_crop == 89
    assert long.train.batch_size == base.train.batch_size == 16
    parent = tmp_path / "parent.yaml"
    parent.write_text("description: p\nmodel: {name: gan, g_hidden: [8, 8], z_dim: 4}\n"
                      "train: {steps: 7, batch_size: 3}\n")
    child = tmp_path / "sub" / "child.yaml"
    child.parent.mkdir()
    child.write_text("base: ../parent.yaml\nmodel: {g_hidden: [16]}\ntrain: {steps: 9}\n")
    cfg = load_config(child, ["train.batch_size=5"])
    assert cfg.model.g_hidden == [16] and cfg.model.z_dim == 4  # lists replace, keys merge
    assert (cfg.train.steps, cfg.train.batch_size) == (9, 5) and cfg.preset == "child"
    # a dict source may name a base too
    assert load_config({"base": "mnist-gan", "train": {"steps": 3}}).model.name == "gan"


def test_base_errors(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("base: b.yaml\n")
    b.write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match=r"cycle \(a -> b -> a\)"):
        load_config(a)
    a.write_text("base: mnist-ganx\n")
    with pytest.raises(ConfigError, match="did you mean mnist-gan"):
        load_config(a)
    a.write_text("base: [mnist-gan]\n")
    with pytest.raises(ConfigError, match="base: must name a preset"):
        load_config(a)
    a.write_text("base: mnist-gan\nmodel: {ngff: 3}\n")
    with pytest.raises(ConfigError, match="ngff"):
        load_config(a)


def test_save_config_is_atomic(tmp_path, monkeypatch):
    # issue 17: config.yaml was written in place; a crash mid-write left a torn file
    import os

    from gankit.config import save_config

    path = tmp_path / "config.yaml"
    save_config(load_config("mnist-gan"), path)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("killed before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        save_config(load_config("mnist-dcgan"), path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]
