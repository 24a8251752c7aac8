"""ONNX export matches PyTorch (onnxruntime), with a dynamic batch axis; `gankit export`."""
import json
import shutil

import numpy as np
import pytest
import torch
from torch import nn

from gankit.cli import main
from gankit.config import config_from_dict
from gankit.data.base import DataInfo
from gankit.errors import GankitError
from gankit.models.base import GANModel
from gankit.sampling import load_generator
from gankit.sampling.loading import Generator

ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install "
                                                "'gankit[export]')")
onnx = pytest.importorskip("onnx")


def run_onnx(path, **inputs):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v.numpy() for k, v in inputs.items()})[0]


@pytest.mark.parametrize("model", ["gan", "dcgan"])
def test_latent_generators_match_pytorch(export_runs, model, tmp_path):
    from gankit.export.onnx import export_onnx, verify_onnx

    gen = load_generator(export_runs[model], "cpu")
    path = export_onnx(gen, tmp_path / "g.onnx")
    assert verify_onnx(gen, path, batch_sizes=(1, 5, 16)) <= 1e-4
    # same seeds through both: what `gankit sample` makes is what the ONNX graph makes
    z = gen.latents([0, 1, 2, 3, 4, 5, 6])
    ref = gen.generate([0, 1, 2, 3, 4, 5, 6])
    out = run_onnx(path, z=z)
    assert out.shape == tuple(ref.shape)
    assert np.abs(out - ref.numpy()).max() <= 1e-4
    # the generator is left in eval mode (the exporter must not flip batch norm to training)
    assert not any(m.training for m in gen.model.modules())
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["gankit.model"] == model and meta["gankit.kind"] == "latent"
    assert json.loads(meta["gankit.data_info"])["resolution"] == gen.info.resolution
    inp = onnx.load(str(path)).graph.input[0]
    assert inp.type.tensor_type.shape.dim[0].dim_param == "batch"


class CondG(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(4, 6)
        self.lin = nn.Linear(6, 64)

    def forward(self, z, labels):
        return torch.tanh(self.lin(z * self.emb(labels))).view(-1, 1, 8, 8)


class ImgG(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x):
        return torch.tanh(self.conv(x))


class ToyModel(GANModel):
    def __init__(self, kind):
        cfg = config_from_dict({"model": {"name": "gan", "z_dim": 6}}).model
        info = DataInfo(kind="image", channels=1 if kind == "cond" else 3, resolution=8,
                        num_classes=4 if kind == "cond" else 0)
        super().__init__(cfg, info)
        if kind == "cond":
            self.capabilities = frozenset({"sample", "conditional"})
            self.nets["G"] = CondG()
        else:
            self.capabilities = frozenset({"translate"})
            self.nets["G_AB"], self.nets["G_BA"] = ImgG(), ImgG()

    def translate(self, x, direction="AtoB"):
        return self.nets["G_AB" if direction == "AtoB" else "G_BA"](x)


def toy(kind):
    m = ToyModel(kind).eval()
    return Generator(m, dict(m.nets), config_from_dict({"model": {"name": "gan"}}), None, 0,
                     torch.device("cpu"))


def test_conditional_and_translation_graphs(tmp_path):
    from gankit.export.onnx import export_onnx, verify_onnx

    gen = toy("cond")
    path = export_onnx(gen, tmp_path / "c.onnx")
    assert [i.name for i in onnx.load(str(path)).graph.input] == ["z", "labels"]
    assert verify_onnx(gen, path) <= 1e-4
    z, lab = torch.randn(3, 6), torch.tensor([0, 3, 1])
    ref = gen.model.generate(z, lab)
    assert np.abs(run_onnx(path, z=z, labels=lab) - ref.detach().numpy()).max() <= 1e-5

    gen = toy("translate")
    for direction in ("AtoB", "BtoA"):
        path = export_onnx(gen, tmp_path / f"t{direction}.onnx", direction=direction)
        assert verify_onnx(gen, path, direction=direction) <= 1e-4
        x = torch.rand(2, 3, 8, 8) * 2 - 1
        ref = gen.model.translate(x, direction).detach().numpy()
        assert np.abs(run_onnx(path, image=x) - ref).max() <= 1e-5
    with pytest.raises(GankitError, match="no sampling options"):
        export_onnx(gen, tmp_path / "x.onnx", options={"psi": 0.5})


def test_cli_export_onnx(export_runs, tmp_path, capsys):
    out = tmp_path / "gen.onnx"
    assert main(["export", str(export_runs["dcgan"]), "--onnx", str(out)]) == 0
    text = capsys.readouterr().out
    assert out.is_file() and "verified with onnxruntime: max |ONNX - PyTorch|" in text
    diff = float(text.rsplit("=", 1)[1])
    assert diff <= 1e-4
    assert main(["export", str(export_runs["dcgan"]), "--onnx", str(out), "--direction",
                 "BtoA"]) == 2
    assert "translation models" in capsys.readouterr().err
    # from an export folder too
    assert main(["export", str(export_runs["gan"] / "export"), "--onnx",
                 str(tmp_path / "g2.onnx")]) == 0
