"""Load a generator from a run directory, an export folder or a checkpoint file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from gankit.config import Config, config_from_dict
from gankit.data.base import DataInfo
from gankit.errors import CheckpointError, GankitError
from gankit.models.base import GANModel, build_model
from gankit.runfiles.checkpoint import find_resumable, load_checkpoint
from gankit.runfiles.export import FORMAT as EXPORT_FORMAT


class Generator:
    """A trained model ready to sample: ``generate(seeds)`` -> images in [-1, 1].

    ``model`` is the full variant (for its capabilities and helpers), ``gens`` the generator
    nets to use (EMA weights when the run kept them), in eval mode on ``device``.
    """

    def __init__(self, model: GANModel, gens: dict[str, torch.nn.Module], cfg: Config,
                 source: Path, step: int, device: torch.device, meta: dict | None = None):
        self.model, self.gens, self.cfg, self.source, self.step = model, gens, cfg, source, step
        self.device = device
        self.meta = dict(meta or {})  # export metadata: ema, gankit_version, ...

    def __repr__(self) -> str:
        i = self.info
        shape = (f"{i.resolution}x{i.resolution}x{i.channels}" if i.kind != "points"
                 else f"{i.dim}-d points")
        return (f"Generator({self.cfg.model.name}, {shape}, step {self.step}, "
                f"from {self.source}, on {self.device})")

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None
                        ) -> Generator:
        """Load an export folder (or a run folder, or a checkpoint file) in one line."""
        return load_generator(path, device)

    def save_pretrained(self, folder: str | Path, *, card: bool = True) -> Path:
        """Write this generator as an export folder: weights, ``config.json`` and (``card``)
        the ``README.md`` model card with its sample grid."""
        from gankit.runfiles.export import export_generator

        out = export_generator(self.model, self.gens, self.cfg, self.info, folder,
                               step=self.step, ema=bool(self.meta.get("ema")))
        if card:
            from gankit.export.card import write_card

            write_card(out, None, load_generator(out, "cpu"))
        return out

    @property
    def info(self) -> DataInfo:
        """What the model was built for: kind, channels, resolution, classes (DataInfo)."""
        return self.model.info

    @property
    def capabilities(self) -> frozenset[str]:
        """What it can do: ``sample``, ``conditional``, ``truncate``, ``mix``, ``translate``..."""
        return self.model.capabilities

    @property
    def G(self) -> torch.nn.Module:
        """The (first) generator network, a plain ``torch.nn.Module`` in eval mode."""
        return self.gens[self.model.generator_nets[0]]

    def latents(self, seeds: list[int]) -> torch.Tensor:
        """The latent vectors z of ``seeds`` (one fixed z per seed), on ``device``."""
        return self.model.make_latents(seeds).to(self.device)

    def labels_for(self, seeds: list[int], class_id: int | None = None) -> torch.Tensor | None:
        """Class labels for ``seeds``: all ``class_id``, or the model's choice per seed (None
        for unconditional models)."""
        if "conditional" not in self.capabilities:
            if class_id is not None:
                raise GankitError(f"model {self.cfg.model.name!r} is not class-conditional; "
                                  f"drop --class")
            return None
        if class_id is not None:
            if not 0 <= class_id < self.info.num_classes:
                raise GankitError(f"--class {class_id} is out of range: this model has classes "
                                  f"0..{self.info.num_classes - 1}")
            return torch.full((len(seeds),), class_id, dtype=torch.long, device=self.device)
        return self.model.sample_labels(seeds).to(self.device)

    @torch.no_grad()
    def generate(self, seeds: list[int], labels: torch.Tensor | None = None, *,
                 class_id: int | None = None, batch_size: int = 64, **options: Any) -> torch.Tensor:
        """Images (N x C x H x W float in [-1, 1], on the CPU) for ``seeds``."""
        if labels is None:
            labels = self.labels_for(seeds, class_id)
        out = []
        for i in range(0, len(seeds), batch_size):
            chunk = seeds[i:i + batch_size]
            z = self.latents(chunk)
            lab = None if labels is None else labels[i:i + batch_size].to(self.device)
            out.append(self.model.generate(z, lab, G=self.G, **options).float().cpu())
        return torch.cat(out)


def _pick_device(device: str | torch.device | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _build(cfg_dict: dict, info_dict: dict) -> tuple[Config, GANModel]:
    cfg = config_from_dict(cfg_dict, saved=True)  # may be an older gankit's
    model = build_model(cfg.model, DataInfo.from_dict(info_dict))
    return cfg, model


def load_generator(path: str | Path, device: str | torch.device | None = None) -> Generator:
    """Load from a run directory (its export, else its newest checkpoint), an export folder
    (``config.json`` + ``generator.safetensors``) or a checkpoint file."""
    path = Path(path)
    dev = _pick_device(device)
    if not path.exists():
        raise GankitError(f"{path} does not exist; give a run directory, an export folder or a "
                          f"checkpoint file")
    if path.is_dir():
        if (path / "config.json").is_file() and (path / "generator.safetensors").is_file():
            return _load_export(path, dev)
        if (path / "export" / "config.json").is_file():
            return _load_export(path / "export", dev)
        if (path / "checkpoints").is_dir():
            found = find_resumable(path / "checkpoints")
            if found is None:
                raise CheckpointError(f"{path}/checkpoints holds no readable checkpoint")
            return _load_checkpoint_state(found[1], found[0], dev)
        raise GankitError(f"{path} is neither a run directory (checkpoints/, export/) nor an "
                          f"export folder (config.json + generator.safetensors)")
    return _load_checkpoint_state(load_checkpoint(path), path, dev)


def _load_export(folder: Path, device: torch.device) -> Generator:
    import hashlib

    from safetensors.torch import load

    try:
        meta = json.loads((folder / "config.json").read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{folder / 'config.json'} is not valid JSON ({e})") from None
    again = "export the run again with `gankit export RUN`"
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise CheckpointError(f"{folder / 'config.json'} is not a gankit generator export")
    missing = [k for k in ("config", "data_info", "generator_nets") if k not in meta]
    if missing or not isinstance(meta["config"], dict) or not isinstance(meta["data_info"], dict) \
            or not isinstance(meta["generator_nets"], list):
        raise CheckpointError(f"{folder / 'config.json'} is incomplete or damaged "
                              f"({', '.join(missing) or 'wrong types'}); {again}")
    cfg, model = _build(meta["config"], meta["data_info"])
    model.load_extra_state(meta.get("model_extra") or {})
    weights = folder / "generator.safetensors"
    try:  # read once: hashed against config.json, then parsed from the same bytes
        blob = weights.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{weights} cannot be read ({e.strerror or e}); {again}") from None
    want = meta.get("generator_sha256")  # (exports before 2026-11-29 have none)
    if want is not None and hashlib.sha256(blob).hexdigest() != want:
        raise CheckpointError(f"{folder}: generator.safetensors is not the file its "
                              f"config.json was written with (an interrupted export or a "
                              f"mixed copy); {again}")
    try:
        tensors = load(blob)
    except Exception as e:
        raise CheckpointError(f"{weights} cannot be read ({e}); {again}") from None
    gens = {}
    for net in meta["generator_nets"]:
        if net not in model.nets:
            raise CheckpointError(f"{folder / 'config.json'} names a network {net!r} that model "
                                  f"{cfg.model.name!r} does not have; {again}")
        sd = {k[len(net) + 1:]: v for k, v in tensors.items() if k.startswith(net + ".")}
        try:
            model.nets[net].load_state_dict(sd)
        except RuntimeError as e:
            raise CheckpointError(f"{folder} does not match its config.json ({net}: "
                                  f"{str(e).splitlines()[0][:160]}); {again}") from None
        gens[net] = model.nets[net]
    model.to(device).eval()
    return Generator(model, gens, cfg, folder, int(meta.get("step", 0)), device,
                     {k: meta.get(k) for k in ("ema", "gankit_version", "generator_sha256")})


def _load_checkpoint_state(state: dict, source: Path, device: torch.device) -> Generator:
    cfg, model = _build(state["config"], state["data_info"])
    for k, v in state["nets"].items():
        model.nets[k].load_state_dict(v)
    model.load_extra_state(state.get("model_extra") or {})
    if state.get("ema"):
        for k, v in state["ema"].items():
            model.nets[k].load_state_dict(v)
    model.to(device).eval()
    gens = {n: model.nets[n] for n in model.generator_nets}
    return Generator(model, gens, cfg, source, int(state["step"]), device,
                     {"ema": bool(state.get("ema")), "gankit_version": state.get("gankit_version")})
