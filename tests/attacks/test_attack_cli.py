"""`gankit attack` end to end on a tiny TorchScript target, and its one-line errors."""
import json

import numpy as np
import pytest
import torch
from attackkit import halves
from PIL import Image

from gankit.cli import main


@pytest.fixture
def digits(tmp_path):
    """A folder of 8 x 8 PNGs in class subfolders 0 and 1 (labels the target can name)."""
    x, y = halves(40, seed=7)
    root = tmp_path / "images"
    for i, (img, label) in enumerate(zip(x, y)):
        (root / str(int(label))).mkdir(parents=True, exist_ok=True)
        arr = (img[0] * 255).round().byte().numpy()
        Image.fromarray(arr, "L").save(root / str(int(label)) / f"{i:03d}.png")
    return root


def read_pngs(folder):
    return np.stack([np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))])


def test_fgsm_and_pgd_rows_from_one_command(scripted, digits, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["attack", str(scripted), str(digits), "--eps", "0.15", "--pgd-steps", "10",
               "--restarts", "2", "--transfer", str(scripted), "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "fgsm" in printed and "pgd" in printed
    report = json.loads((out / "report.json").read_text())
    assert report["examples"] == 40 and report["labels"] == "data set"
    assert report["clean_accuracy"] > 0.9
    assert set(report["methods"]) == {"fgsm", "pgd"}
    pgd = report["methods"]["pgd"]
    assert pgd["success_rate"] > 0.9 and pgd["accuracy_under_attack"] < 0.1
    assert pgd["linf_max"] <= 0.15 + 1e-6 and pgd["images_per_s"] > 0
    # the "second" classifier is the same file: whatever fooled the target fools it too
    assert pgd["transfer_rate"] == 1.0
    # every adversarial PNG stays within eps of its clean image (8-bit, as written)
    clean = np.concatenate([read_pngs(digits / "0"), read_pngs(digits / "1")])
    adv = read_pngs(out / "pgd")
    assert adv.shape == clean.shape
    assert np.abs(adv.astype(int) - clean.astype(int)).max() <= int(0.15 * 255)
    assert (out / "pgd_sheet.png").is_file()
    lines = (out / "pgd" / "predictions.csv").read_text().splitlines()
    assert lines[0].startswith("file,index,label") and len(lines) == 41


def test_advgan_run_end_to_end(scripted, digits, tmp_path):
    from gankit.config import config_from_dict
    from gankit.train.trainer import train

    cfg = config_from_dict({
        "model": {"name": "advgan", "target": str(scripted), "eps": 0.2, "ngf": 4, "ndf": 4,
                  "n_blocks": 1},
        "data": {"dataset": f"folder:{digits}", "resolution": 8, "channels": 1},
        "train": {"steps": 3, "batch_size": 8, "log_every": 1, "sample_every": 0,
                  "checkpoint_every": 0, "progress": False, "threads": 1, "grid_size": 4}})
    run = train(cfg, tmp_path / "run")
    out = tmp_path / "out"
    assert main(["attack", str(run), str(digits), "--pgd-steps", "3", "--transfer", "none",
                 "--save", "5", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert list(report["methods"]) == ["advgan", "fgsm", "pgd"]
    assert report["eps"] == 0.2 and report["run_eps"] == 0.2
    for row in report["methods"].values():
        assert row["linf_max"] <= 0.2 + 1e-6
    assert len(list((out / "advgan").glob("*.png"))) == 5
    # a smaller --eps projects the generator's perturbation onto the smaller ball
    assert main(["attack", str(run), str(digits), "--method", "advgan", "--eps", "0.05",
                 "--transfer", "none", "--out", str(tmp_path / "small")]) == 0
    small = json.loads((tmp_path / "small" / "report.json").read_text())
    assert small["methods"]["advgan"]["linf_max"] <= 0.05 + 1e-6
    # --target: the run's generator against another classifier (here the untrained one)
    assert main(["attack", str(run), str(digits), "--method", "advgan", "--target",
                 "untrained:1", "--transfer", "none", "--save", "0",
                 "--out", str(tmp_path / "other")]) == 0
    other = json.loads((tmp_path / "other" / "report.json").read_text())
    assert other["target"] == "untrained:1" and other["run_target"] == str(scripted)
    # a checkpoint file is a run too (told apart from a TorchScript file by its contents)
    ckpt = run / "checkpoints" / "latest.pt"
    assert main(["attack", str(ckpt), str(digits), "--method", "advgan", "--transfer", "none",
                 "--save", "0", "--out", str(tmp_path / "ckpt")]) == 0
    again = json.loads((tmp_path / "ckpt" / "report.json").read_text())
    assert again["methods"]["advgan"]["success_rate"] == \
        json.loads((out / "report.json").read_text())["methods"]["advgan"]["success_rate"]


def bad_target(tmp_path):
    class Flat(torch.nn.Module):
        def forward(self, x):
            return x.flatten(1).mean(1)

    path = tmp_path / "flat.pt"
    torch.jit.script(Flat()).save(str(path))
    return path


@pytest.mark.parametrize("case,match", [
    ("missing", "does not exist"),
    ("wrong-shape", "must return logits of shape N x K"),
    ("advgan-without-run", "needs a trained advgan run"),
    ("class-range", "--target-class 5 is out of range"),
    ("no-input", "does not exist"),
    ("bad-eps", "outside"),
    ("target-twice", "has nothing to add"),
])
def test_bad_inputs_fail_with_one_line(case, match, scripted, digits, tmp_path, capsys):
    target, inp, extra = str(scripted), str(digits), []
    if case == "missing":
        target = str(tmp_path / "none.pt")
    elif case == "wrong-shape":
        target = str(bad_target(tmp_path))
    elif case == "advgan-without-run":
        extra = ["--method", "advgan"]
    elif case == "class-range":
        extra = ["--target-class", "5"]
    elif case == "no-input":
        inp = str(tmp_path / "nowhere" / "images")
    elif case == "bad-eps":
        extra = ["--eps", "3"]
    elif case == "target-twice":
        extra = ["--target", "mnist"]
    rc = main(["attack", target, inp, "--transfer", "none", "--out", str(tmp_path / "o"),
               *extra])
    err = capsys.readouterr().err
    assert rc == 2
    assert match in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_bare_dataset_name_is_its_test_split(data_root, monkeypatch):
    from gankit.attacks.runner import load_inputs

    monkeypatch.setenv("GANKIT_DATA", str(data_root))
    bare, test = load_inputs("mnist", 1, 28, 5), load_inputs("mnist:test", 1, 28, 5)
    assert torch.equal(bare.x, test.x) and bare.labels.tolist() == [7, 2, 1, 0, 4]
    assert bare.x.min() >= 0 and bare.x.max() <= 1


def test_automatic_transfer_never_stops_an_attack(tmp_path, monkeypatch, caplog):
    """28 x 28 grey inputs pick mnist-lenet; when it cannot be trained (no MNIST files here)
    the attack still runs, without the transfer row."""
    from gankit.attacks import targets

    def no_data(*a, **k):
        raise targets.GankitError("mnist (train) not found")

    monkeypatch.setattr(targets, "lenet_weights_path", lambda: tmp_path / "none.safetensors")
    monkeypatch.setattr(targets, "train_lenet", no_data)
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8), "L").save(folder / f"{i}.png")

    class Any28(torch.nn.Module):
        def forward(self, x):
            return torch.stack([x.mean((1, 2, 3)), 1 - x.mean((1, 2, 3))], 1)

    model = tmp_path / "any.pt"
    torch.jit.script(Any28()).save(str(model))
    out = tmp_path / "out"
    assert main(["attack", str(model), str(folder), "--method", "fgsm", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert "transfer_target" not in report and report["labels"].startswith("the target's")
    assert "no transfer row" in caplog.text
    assert main(["attack", str(model), str(folder), "--method", "fgsm", "--transfer",
                 "mnist-lenet", "--out", str(out)]) == 2  # asked for by name: an error
