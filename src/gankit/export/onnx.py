"""ONNX export of trained generators, verified against PyTorch with onnxruntime.

Graphs (all with a dynamic batch axis named ``batch``):

* latent models: ``z`` (batch x z_dim float32) [+ ``labels`` (batch int64) for conditional
  models] -> ``image`` (batch x C x H x W float32 in [-1, 1]; ``samples`` batch x dim for
  point data);
* translation models: ``image`` (batch x C x R x R float32 in [-1, 1]) -> ``translated``.

Sampling options (e.g. ``psi`` for truncation) are fixed into the graph at export time.
The model's name, data info and options are written as ONNX metadata (``gankit.*`` keys) so a
consumer knows the latent size, classes and output range without gankit.

We use the TorchScript-based exporter (``dynamo=False``): it needs only ``onnx``, works
offline, and handles every gankit generator; the newer torch.export path additionally needs
``onnxscript`` and gives nothing these feed-forward nets need.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.errors import GankitError

OPSET = 17


def _need(package: str):
    import importlib

    try:
        return importlib.import_module(package)
    except ImportError:
        raise GankitError(f"ONNX export needs the {package!r} package: "
                          f"pip install 'gankit[export]'") from None


class _Latent(nn.Module):
    def __init__(self, model, G, options):
        super().__init__()
        self.model, self.G, self.options = model, G, options

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model.generate(z, labels, G=self.G, **self.options)


class _Translate(nn.Module):
    def __init__(self, model, direction):
        super().__init__()
        self.model, self.direction = model, direction

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.translate(image, self.direction)


@dataclass
class OnnxSpec:
    """What the exported graph takes and gives."""

    kind: str                      # latent | translate
    inputs: list[str]
    output: str
    wrapper: nn.Module

    def example(self, gen, batch: int, seed: int = 0) -> dict[str, torch.Tensor]:
        """Example inputs of ``batch`` rows (deterministic in ``seed``), on the CPU."""
        g = torch.Generator().manual_seed(seed)
        info = gen.info
        if self.kind == "translate":
            x = torch.rand(batch, info.channels, info.resolution, info.resolution,
                           generator=g) * 2 - 1
            return {"image": x}
        out = {"z": torch.randn(batch, gen.model.latent_dim, generator=g)}
        if "labels" in self.inputs:
            out["labels"] = torch.randint(0, info.num_classes, (batch,), generator=g)
        return out


def onnx_spec(gen, *, direction: str = "AtoB", options: dict[str, Any] | None = None) -> OnnxSpec:
    options = dict(options or {})
    caps = gen.capabilities
    if "translate" in caps:
        if options:
            raise GankitError("translation models take no sampling options")
        return OnnxSpec("translate", ["image"], "translated", _Translate(gen.model, direction))
    if "sample" not in caps or not gen.model.latent_dim:
        raise GankitError(f"model {gen.cfg.model.name!r} has neither a latent space nor a "
                          f"translate method; nothing to export to ONNX")
    if direction != "AtoB":
        raise GankitError(f"--direction is for translation models; {gen.cfg.model.name!r} "
                          f"generates from z")
    inputs = ["z", "labels"] if "conditional" in caps else ["z"]
    output = "samples" if gen.info.kind == "points" else "image"
    return OnnxSpec("latent", inputs, output, _Latent(gen.model, gen.G, options))


def export_onnx(gen, path: str | Path, *, direction: str = "AtoB",
                options: dict[str, Any] | None = None, opset: int = OPSET) -> Path:
    """Write ``gen`` (a loaded :class:`~gankit.sampling.Generator`) as an ONNX graph."""
    onnx = _need("onnx")
    spec = onnx_spec(gen, direction=direction, options=options)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dev = gen.device
    example = {k: v.to(dev) for k, v in spec.example(gen, 2).items()}
    axes = {name: {0: "batch"} for name in [*spec.inputs, spec.output]}
    tmp = path.with_name(f".{path.name}.tmp")
    # the exporter restores the wrapper's train/eval mode afterwards, recursively: a wrapper
    # left in training mode would switch the generator's batch norm to batch statistics
    spec.wrapper.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
        torch.onnx.export(spec.wrapper, tuple(example[k] for k in spec.inputs), str(tmp),
                          input_names=spec.inputs, output_names=[spec.output],
                          dynamic_axes=axes, opset_version=opset, dynamo=False,
                          do_constant_folding=True)
    gen.model.eval()
    m = onnx.load(str(tmp))
    info = gen.info
    meta = {"gankit.model": gen.cfg.model.name, "gankit.kind": spec.kind,
            "gankit.data_info": json.dumps(info.to_dict()),
            "gankit.latent_dim": str(gen.model.latent_dim if spec.kind == "latent" else 0),
            "gankit.options": json.dumps(options or {}, default=str),
            "gankit.range": "[-1, 1] float32 NCHW", "gankit.step": str(gen.step)}
    if spec.kind == "translate":
        meta["gankit.direction"] = direction
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, str(tmp))
    tmp.replace(path)
    return path


def verify_onnx(gen, path: str | Path, *, direction: str = "AtoB",
                options: dict[str, Any] | None = None, batch_sizes=(1, 3),
                seed: int = 0) -> float:
    """Largest absolute difference between onnxruntime and PyTorch outputs on the same inputs,
    over several batch sizes (which also checks the batch axis is dynamic)."""
    ort = _need("onnxruntime")
    spec = onnx_spec(gen, direction=direction, options=options)
    spec.wrapper.eval()
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    if sorted(names) != sorted(spec.inputs):
        raise GankitError(f"{path} takes inputs {names}, expected {spec.inputs}: it was "
                          f"exported from another model")
    worst = 0.0
    for i, b in enumerate(batch_sizes):
        ex = spec.example(gen, b, seed + i)
        with torch.no_grad():
            ref = spec.wrapper(*(ex[k].to(gen.device) for k in spec.inputs)).float().cpu()
        out = sess.run([spec.output], {k: v.numpy() for k, v in ex.items()})[0]
        if tuple(out.shape) != tuple(ref.shape):
            raise GankitError(f"ONNX output shape {out.shape} differs from PyTorch's "
                              f"{tuple(ref.shape)} at batch {b}")
        worst = max(worst, float((torch.from_numpy(out) - ref).abs().max()))
    return worst
