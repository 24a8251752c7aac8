"""Test accuracy of a trained model that is also a classifier (the ``classify`` capability).

A semi-supervised GAN's discriminator is a K-class classifier of real images; its quality is
measured the usual way, by accuracy on the held-out test split of the data set it was trained
on. ``gankit evaluate RUN --metrics accuracy`` (the default for such runs) calls
:func:`run_classifier_accuracy`.

The classifier lives in D, which only checkpoints hold (an export keeps the generator only),
so RUN must be a run directory with ``checkpoints/`` or a checkpoint file.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from gankit.errors import CheckpointError, GankitError


@torch.no_grad()
def accuracy(model, images: torch.Tensor, labels: torch.Tensor,
             batch_size: int = 1000) -> dict[str, Any]:
    """Accuracy and error count of ``model.classify`` on float images in [-1, 1]."""
    correct = 0
    for i in range(0, len(images), batch_size):
        pred = model.classify(images[i:i + batch_size]).argmax(1)
        correct += int((pred.cpu() == labels[i:i + batch_size].cpu()).sum())
    n = len(images)
    return {"accuracy": correct / n if n else float("nan"), "errors": n - correct,
            "examples": n}


def load_classifier(path: str | Path, device: str = "cpu"):
    """(model with every net loaded, config, step, checkpoint path) of a run or checkpoint."""
    from gankit.config import config_from_dict
    from gankit.data.base import DataInfo
    from gankit.models.base import build_model
    from gankit.runfiles.checkpoint import find_resumable, load_checkpoint

    path = Path(path)
    if not path.exists():
        raise GankitError(f"{path} does not exist: classifier accuracy needs a run directory "
                          f"or a checkpoint of a model that classifies (e.g. sgan)")
    if path.is_dir():
        if not (path / "checkpoints").is_dir():
            raise GankitError(f"{path} has no checkpoints/: classifier accuracy needs the "
                              f"discriminator, which exports do not keep; give the run "
                              f"directory or a checkpoint file")
        found = find_resumable(path / "checkpoints")
        if found is None:
            raise CheckpointError(f"{path}/checkpoints holds no readable checkpoint")
        path, state = found
    else:
        state = load_checkpoint(path)
    cfg = config_from_dict(state["config"], saved=True)
    model = build_model(cfg.model, DataInfo.from_dict(state["data_info"]))
    if "classify" not in model.capabilities:
        raise GankitError(f"model {cfg.model.name!r} is not a classifier (no classify "
                          f"capability), so it has no classifier accuracy; use image metrics "
                          f"such as --metrics fid --ref DATASET")
    missing = sorted(set(model.nets) - set(state["nets"]))
    if missing:
        raise CheckpointError(f"{path} has no weights for {', '.join(missing)}: it was written "
                              f"by an older version of model {cfg.model.name!r}; train it again")
    for k, v in state["nets"].items():
        model.nets[k].load_state_dict(v)
    model.load_extra_state(state.get("model_extra") or {})
    model.to(device).eval()
    return model, cfg, int(state["step"]), path


def split_images(data_cfg, split: str, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor,
                                                                     str]:
    """(float images in [-1, 1], labels, description) of ``split`` of the run's base data set,
    at the run's resolution and channels, without flips or a limit."""
    from gankit.data import load_dataset
    from gankit.data.semi import base_spec

    spec = base_spec(data_cfg.dataset)
    cfg = dataclasses.replace(data_cfg, dataset=spec, split=split, labels=True, flip=False,
                              limit=0)
    ds = load_dataset(cfg)
    from gankit.data.domains import DomainDataset, target_split

    if isinstance(ds, DomainDataset):  # domain adaptation (dann): the target domain counts
        ds, spec = target_split(ds), f"{spec} (target domain)"
    idx = torch.arange(len(ds))
    batch = ds.get_batch(idx, torch.Generator().manual_seed(0), torch.device(device))
    if "label" not in batch:
        raise GankitError(f"the {split} split of {spec!r} has no labels to score a classifier")
    return batch["real"], batch["label"], f"{spec}:{split}"


def run_classifier_accuracy(path: str | Path, split: str = "test", device: str = "cpu",
                            batch_size: int = 1000) -> dict[str, Any]:
    """Classifier accuracy of the run/checkpoint ``path`` on ``split`` of its base data set."""
    model, cfg, step, ckpt = load_classifier(path, device)
    x, y, desc = split_images(cfg.data, split, device)
    res = accuracy(model, x, y, batch_size)
    res.update(dataset=desc, step=step, checkpoint=str(ckpt))
    return res


def is_classifier_run(source: str | Path) -> bool:
    """True when ``source`` is a run directory or checkpoint of a model that can classify."""
    from gankit.registry import MODELS

    path = Path(str(source))
    try:
        if path.is_dir() and (path / "config.yaml").is_file() and (path / "checkpoints").is_dir():
            from gankit.config import load_yaml

            name = (load_yaml((path / "config.yaml").read_text()) or {})["model"]["name"]
        elif path.is_file() and path.suffix in (".pt", ".pth"):
            from gankit.runfiles.checkpoint import load_checkpoint

            name = load_checkpoint(path)["config"]["model"]["name"]
        else:
            return False
        return "classify" in MODELS.get(name).capabilities
    except (GankitError, KeyError, TypeError, OSError):
        return False
