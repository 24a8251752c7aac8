"""CLI manners: subcommand usage and "did you mean", `gankit config`, `train --dry-run`."""
import pytest
import yaml

from gankit.cli import main
from gankit.utils.diff import dotted_diff


def _exit(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


def test_unknown_flag_shows_the_subcommands_usage_and_a_suggestion(capsys):
    code, err = _exit(["sample", "runs/a", "--outdirr", "d"], capsys)
    assert code == 2
    assert err.startswith("usage: gankit sample ")
    assert "gankit sample: error: unrecognized arguments: --outdirr d" in err
    assert "(--outdirr: did you mean --outdir?)" in err and "gankit sample --help" in err
    code, err = _exit(["grid", "x", "--tunc=0.5"], capsys)
    assert "usage: gankit grid" in err and "--tunc: did you mean --trunc?" in err
    code, err = _exit(["evaluate", "x", "--zzzzzz"], capsys)  # nothing close: no suggestion
    assert "unrecognized arguments: --zzzzzz; see `gankit evaluate --help`" in err


def test_unknown_command_suggests_the_closest(capsys):
    code, err = _exit(["smaple", "runs/a"], capsys)
    assert code == 2 and "unknown command 'smaple'; did you mean sample?" in err
    code, err = _exit(["-v", "evalute"], capsys)
    assert "did you mean evaluate?" in err


def test_config_prints_the_resolved_config(capsys):
    assert main(["config", "mnist-dcgan", "model.ngf=16", "train.steps=7"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["model"]["ngf"] == 16 and cfg["train"]["steps"] == 7
    assert cfg["preset"] == "mnist-dcgan" and "window" in cfg["health"]  # defaults in
    assert main(["config", "mnist-dcgan", "model.ngf=16", "--changed"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "model.ngf: 64 -> 16" in lines and "data.dataset: 'fashion-mnist' -> 'mnist'" in lines
    assert not any(line.startswith(("health.", "description")) for line in lines)
    assert main(["config", "mnist-dcgan", "model.ngff=3"]) == 2
    assert "did you mean ngf?" in capsys.readouterr().err


def test_train_dry_run_prints_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "mnist-gan", "train.steps=3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "steps: 3" in out and "# dry run: would train into runs/00000-mnist-gan" in out
    assert list(tmp_path.iterdir()) == []


def test_dotted_diff():
    old = {"model": {"ngf": 32, "name": "dcgan", "h": [1]}, "x": "a"}
    new = {"model": {"ngf": 16, "name": "dcgan", "h": [1, 2], "extra": 1}, "x": "a"}
    assert dotted_diff(old, new) == ["model.ngf: 32 -> 16", "model.h: [1] -> [1, 2]",
                                     "model.extra: (unset) -> 1"]
    assert dotted_diff(old, old) == []


def test_help_examples_name_run_folders_gankit_train_makes():
    # `gankit train PRESET` writes runs/NNNNN-PRESET: an example run folder must look like one
    import re

    from gankit.cli import _command_modules
    from gankit.config import list_presets

    presets = set(list_presets())
    seen = 0
    for mod in _command_modules():
        text = f"{mod.__doc__ or ''}\n{getattr(mod, 'DESCRIPTION', '')}\n{mod.HELP}"
        for name in re.findall(r"runs/\d{5}-([\w-]+)", text):
            assert name in presets, f"gankit {mod.NAME}: runs/...-{name} names no preset"
            seen += 1
    assert seen >= 2
