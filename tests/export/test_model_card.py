"""Hub-style export folders: the README.md model card, one-line loading, torch.hub, the Hub."""
import json
import shutil
import sys
import types
from pathlib import Path

import pytest
import torch

import gankit
from gankit.cli import main
from gankit.errors import GankitError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(export_runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(export_runs["dcgan"], run)
    return run


def test_trainer_export_has_a_card_and_grid(run):
    export = run / "export"
    names = sorted(p.name for p in export.iterdir())
    assert names == ["README.md", "config.json", "generator.safetensors", "samples.png"]
    card = (export / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: gankit\n")
    for words in ("# dcgan generator trained on synthetic:64", "![samples: seeds 0-15]",
                  "6 steps of batch 8 (0.048 kimg)", "EMA weights", "32x32, 1 channel",
                  '"ngf": 4', "No metrics were recorded", "gankit.load(", "torch.hub.load(",
                  "--outdir"):
        assert words in card, words
    assert "(conditional)" not in card and "planned" not in card  # 6 of 6 steps, no classes
    from PIL import Image

    with Image.open(export / "samples.png") as im:  # 4 x 4 grid of 32 px + 2 px padding,
        assert im.size == (3 * (4 * 34 + 2), 3 * (4 * 34 + 2))  # enlarged 3x to >= 384 px
    # the grid is what `gankit sample EXPORT --seeds 0-15` draws
    G = gankit.load(export, "cpu")
    from gankit.utils.images import make_grid

    import numpy as np

    with Image.open(export / "samples.png") as im:
        got = np.asarray(im)
    assert np.array_equal(got[::3, ::3], make_grid(G.generate(list(range(16))), 4)[:, :, 0])


def test_card_lists_the_runs_metrics_with_protocol(run, capsys):
    rec = {"step": 6, "time": 0.0, "checkpoint": "ckpt-000006.pt", "classifier_fid": 1.2345678,
           "coverage/classes_present": 10, "headline": 1.23, "seconds": 1.0,
           "protocol": {"feature_net": "mnist (gankit MNIST classifier)", "resize": "none",
                        "num_source": 500, "reference": "mnist:train@28px1ch",
                        "num_reference": 60000}}
    later = {**rec, "step": 9, "classifier_fid": 99.0}  # after the exported step: not listed
    (run / "metrics.jsonl").write_text(json.dumps(rec) + "\n" + json.dumps(later) + "\n{torn")
    assert main(["export", str(run)]) == 0
    assert "README.md model card" in capsys.readouterr().out
    card = (run / "export" / "README.md").read_text()
    assert "Evaluated at step 6 (`ckpt-000006.pt`)" in card
    assert "| classifier_fid | 1.235 |" in card and "| coverage/classes_present | 10 |" in card
    assert "99" not in card.split("## Metrics")[1].split("## How")[0]
    assert ("Protocol: feature net mnist (gankit MNIST classifier); resize none; 500 generated "
            "images vs 60000 images of `mnist:train@28px1ch`.") in card
    assert main(["export", str(run), "--out", str(run / "bare"), "--no-card"]) == 0
    assert not (run / "bare" / "README.md").exists()


def test_one_line_loading_and_torch_hub(run):
    export = run / "export"
    want = gankit.sample(export, [0, 3, 5], device="cpu")
    G = gankit.Generator.from_pretrained(export, "cpu")
    assert torch.equal(G.generate([0, 3, 5]), want)
    H = torch.hub.load(str(REPO), "generator", path=str(export), source="local", device="cpu")
    assert isinstance(H, gankit.Generator) and torch.equal(H.generate([0, 3, 5]), want)
    # save_pretrained writes a folder that loads back to the same images
    again = G.save_pretrained(run / "copy")
    assert (again / "README.md").is_file()
    assert torch.equal(gankit.load(again, "cpu").generate([0, 3, 5]), want)


def test_push_to_hub_without_and_with_huggingface_hub(run, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed
    with pytest.raises(GankitError, match=r"pip install 'gankit\[hub\]'"):
        gankit.push_to_hub(run / "export", "me/model")
    with pytest.raises(GankitError, match="not an export folder"):
        gankit.push_to_hub(tmp_path, "me/model")
    calls = []

    class FakeApi:  # records what would go over the network
        def __init__(self, token=None):
            calls.append(("token", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create", repo_id, kw))

        def upload_folder(self, **kw):
            calls.append(("upload", kw))
            return types.SimpleNamespace(commit_url="https://hub/me/model/commit/1")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(HfApi=FakeApi))
    url = gankit.push_to_hub(run / "export", "me/model", token="t", private=True)
    assert url == "https://hub/me/model/commit/1"
    assert calls[0] == ("token", "t") and calls[1][1] == "me/model"
    assert calls[1][2]["private"] is True and calls[2][1]["folder_path"] == str(run / "export")


def test_export_push_flag(run, monkeypatch, capsys):
    uploads = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, **kw):
            pass

        def upload_folder(self, **kw):
            uploads.append(sorted(p.name for p in Path(kw["folder_path"]).iterdir()))
            return types.SimpleNamespace(commit_url="https://hub/x")

    monkeypatch.setitem(sys.modules, "huggingface_hub", types.SimpleNamespace(HfApi=FakeApi))
    assert main(["export", str(run), "--push", "me/model"]) == 0
    assert "uploaded to the Hugging Face Hub: https://hub/x" in capsys.readouterr().out
    assert uploads == [["README.md", "config.json", "generator.safetensors", "samples.png"]]
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    assert main(["export", str(run), "--push", "me/model"]) == 2
    assert "pip install 'gankit[hub]'" in capsys.readouterr().err
    assert repr(gankit.load(run / "export", "cpu")).startswith("Generator(dcgan, 32x32x1, step 6")


def test_card_metadata_reads_with_the_hubs_own_parser(run):
    hub = pytest.importorskip("huggingface_hub")  # the `hub` extra
    data = hub.ModelCard.load(run / "export" / "README.md").data
    assert data.library_name == "gankit" and "dcgan" in data.tags
    assert data.pipeline_tag == "unconditional-image-generation"


def test_card_of_a_translation_model(tmp_path):
    # no grid of noise samples for pix2pix: the card says how to translate instead
    from gankit.registry import MODELS

    cls = MODELS.get("pix2pix")
    run = gankit.train({"model": {"name": "pix2pix", **cls.contract_overrides},
                        "data": dict(cls.contract_data),
                        "train": {"steps": 1, "batch_size": 2, "log_every": 1,
                                  "sample_every": 0, "checkpoint_every": 0, "grid_size": 2,
                                  "progress": False, "threads": 1}}, tmp_path / "run")
    export = run / "export"
    assert not (export / "samples.png").exists()
    card = (export / "README.md").read_text()
    assert "pipeline_tag: image-to-image" in card and "gankit translate" in card
    assert "G.model.translate(x" in card and "G.generate(" not in card
    assert "this card." in card and "![samples" not in card
