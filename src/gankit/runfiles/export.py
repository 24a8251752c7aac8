"""Exported generators: ``generator.safetensors`` + ``config.json``.

The ``README.md`` model card is written by the callers that own an export (the run's default
observers at the end of training, ``rewrite_export``, ``Generator.save_pretrained``) with
:func:`gankit.export.card.write_card`, which lives above ``train/``.

The export holds only the generator nets (EMA weights when the run kept an EMA) and what is
needed to rebuild them: the resolved config, the data info and JSON-able model state (e.g.
ProGAN's current resolution). It loads without the trainer, without pickle, on any device.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gankit._version import __version__
from gankit.utils.io import atomic_write, atomic_write_text

FORMAT = "gankit.generator"


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        try:
            json.dumps(v)
        except TypeError:
            continue
        out[k] = v
    return out


def export_generator(model, gens: dict[str, torch.nn.Module], cfg, info, out_dir: str | Path,
                     *, step: int = 0, ema: bool = False) -> Path:
    """Write ``out_dir``: the weights, then ``config.json`` (naming the weights' hash)."""
    from safetensors.torch import save

    out_dir = Path(out_dir)
    tensors = {f"{net}.{k}": v.detach().to("cpu", torch.float32 if v.is_floating_point()
                                            else v.dtype).contiguous()
               for net, m in gens.items() for k, v in m.state_dict().items()}
    import hashlib

    blob = save(tensors)
    atomic_write(out_dir / "generator.safetensors", lambda f: f.write(blob))
    # written second and naming the weights' hash: a crash between the two writes leaves a
    # pair the loader recognises as torn instead of a config describing other weights
    meta = {"format": FORMAT, "version": 1, "gankit_version": __version__,
            "generator_sha256": hashlib.sha256(blob).hexdigest(),
            "model": cfg.model.name, "generator_nets": list(gens), "step": step, "ema": ema,
            "config": cfg.to_dict(), "data_info": info.to_dict(),
            "model_extra": _jsonable(model.extra_state()),
            "capabilities": sorted(model.capabilities)}
    atomic_write_text(out_dir / "config.json", json.dumps(meta, indent=2) + "\n")
    return out_dir
