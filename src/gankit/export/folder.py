"""Hub-style export folders: ``generator.safetensors`` + ``config.json`` + ``README.md`` card.

:func:`gankit.runfiles.export.export_generator` writes the weights and config (the trainer calls
it at the end of every run, and its default observers add the card); :func:`rewrite_export` re-writes a run's
export from its newest checkpoint, e.g. after resuming. Loading: ``gankit.load(folder)`` or
``Generator.from_pretrained(folder)`` (:mod:`gankit.sampling.loading`).
"""
from __future__ import annotations

from pathlib import Path


def is_export_folder(path: str | Path) -> bool:
    """True for a folder holding an exported generator (config.json + generator.safetensors)."""
    p = Path(path)
    return (p / "config.json").is_file() and (p / "generator.safetensors").is_file()


def rewrite_export(run_dir: str | Path, out: str | Path | None = None, *,
                   card: bool = True) -> Path:
    """Re-write the export of ``run_dir`` from its newest valid checkpoint; returns the folder."""
    import torch

    from gankit.errors import CheckpointError, GankitError
    from gankit.export.card import write_card
    from gankit.sampling.loading import _load_checkpoint_state, load_generator
    from gankit.runfiles.checkpoint import find_resumable
    from gankit.runfiles.export import export_generator

    run_dir = Path(run_dir)
    if not (run_dir / "checkpoints").is_dir():
        raise GankitError(f"{run_dir} is not a run directory with checkpoints/; "
                          f"give a training run (or use --onnx to convert an export)")
    found = find_resumable(run_dir / "checkpoints")
    if found is None:
        raise CheckpointError(f"{run_dir}/checkpoints holds no readable checkpoint")
    path, state = found
    gen = _load_checkpoint_state(state, path, torch.device("cpu"))
    out = Path(out) if out else run_dir / "export"
    export_generator(gen.model, gen.gens, gen.cfg, gen.info, out, step=gen.step,
                     ema=bool(state.get("ema")))
    if card:
        write_card(out, run_dir, load_generator(out, "cpu"))
    return out
