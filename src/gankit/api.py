"""The public Python API: ``gankit.train``, ``load``, ``sample``, ``evaluate``, ``export``.

    import gankit
    run = gankit.train("mnist-dcgan", "runs/a", overrides=["train.steps=500"])
    G = gankit.load(run)                                  # run folder, export folder, checkpoint
    images = gankit.sample(G, seeds=range(16))            # 16 x C x H x W float in [-1, 1]
    result = gankit.evaluate(run, ref="mnist:train", metrics="fid", feature_net="mnist")
    folder = gankit.export(run)                           # RUN/export: weights, config, card

Each function imports what it needs when called: ``import gankit`` loads neither torch nor
numpy. The command line (``gankit train|sample|evaluate|export``) calls the same functions.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for annotations only; nothing heavy is imported at run time
    import torch

    from gankit.config import Config
    from gankit.sampling.loading import Generator

__all__ = ["train", "load", "sample", "evaluate", "export", "push_to_hub"]


def train(config: str | Path | dict | Config, out: str | Path, overrides: Sequence[str] = (),
          *, resume: str | Path | None = None, **kwargs: Any) -> Path:
    """Train a GAN and return its run folder.

    ``config`` is a preset name (``gankit list``), a YAML file, a dict or a
    :class:`~gankit.config.Config`; ``overrides`` are dotted ``key=value`` strings
    (``["train.steps=500", "model.ngf=32"]``) applied on top. ``resume`` is ``"auto"`` (the
    newest valid checkpoint in ``out``) or a checkpoint path. Further keyword arguments (e.g.
    ``callbacks``) go to :func:`gankit.train.trainer.train`.
    """
    from gankit.config import Config, load_config
    from gankit.train.trainer import train as _train

    if not isinstance(config, Config) or overrides:
        config = load_config(config.to_dict() if isinstance(config, Config) else config,
                             list(overrides))
    return _train(config, out, resume=resume, **kwargs)


def load(path: str | Path, device: str | None = None) -> Generator:
    """Load a trained generator from a run folder, an export folder or a checkpoint file.

    Returns a :class:`~gankit.sampling.loading.Generator`: ``G.generate(seeds)`` gives
    N x C x H x W float images in [-1, 1] on the CPU. ``device``: ``"auto"`` (default: CUDA
    where available), ``"cpu"``, ``"cuda"``. The same as ``Generator.from_pretrained(path)``.
    """
    from gankit.sampling.loading import load_generator

    return load_generator(path, device)


def sample(source: str | Path | Generator, seeds: Iterable[int] | str = range(16), *,
           class_id: int | None = None, trunc: float | None = None, device: str | None = None,
           **options: Any) -> torch.Tensor:
    """Images for ``seeds`` (N x C x H x W float in [-1, 1], CPU), as ``gankit sample`` makes.

    ``source`` is a loaded generator or anything :func:`load` takes; ``seeds`` an iterable of
    ints or a seed string such as ``"0-63,100"``. ``class_id`` picks one class of a conditional
    model (default: classes cycle with the seeds); ``trunc`` is the truncation psi of models
    that support it; other ``options`` are the model's generation options.
    """
    from gankit.sampling.loading import Generator, load_generator
    from gankit.utils.seeds import parse_seeds

    gen = source if isinstance(source, Generator) else load_generator(source, device)
    seeds = parse_seeds(seeds) if isinstance(seeds, str) else [int(s) for s in seeds]
    if trunc is not None:
        options["psi"] = trunc
    return gen.generate(seeds, class_id=class_id, **options)


def evaluate(source: Any, ref: Any = None, metrics: str | Sequence[str] = "fid",
             **options: Any) -> dict:
    """Compute GAN metrics for ``source`` against ``ref`` with their protocol.

    ``source``/``ref``: a run or export folder, a checkpoint, ``folder:PATH``, ``npz:PATH`` or a
    dataset such as ``"mnist:train"``. ``metrics``: ``"fid,is,kid,pr,coverage,accuracy"`` (any
    subset). ``options`` are fields of :class:`~gankit.metrics.evaluate.EvalOptions`
    (``num=10000``, ``feature_net="inception"|"mnist"|"fashion-mnist"``, ``resize``,
    ``device``, ...). Returns ``{"metrics": {...}, "protocol": {...}}``. Without ``ref``, a
    run folder, export or checkpoint is compared with its run's training images as its model
    saw them (resolution, channels, crop).
    """
    from gankit.metrics.evaluate import NEEDS_REF, EvalOptions, default_ref, parse_metrics
    from gankit.metrics.evaluate import evaluate as _evaluate

    names = parse_metrics(metrics if isinstance(metrics, str) else list(metrics))
    if ref is None and isinstance(source, (str, Path)) and NEEDS_REF & set(names):
        ref = default_ref(source)
    return _evaluate(source, ref, names, EvalOptions(**options))


def export(run: str | Path, out: str | Path | None = None, *, onnx: str | Path | None = None,
           card: bool = True) -> Path:
    """Export a run's generator and return the path written.

    Without ``onnx``: the Hub-style folder ``out`` (default ``RUN/export``) with
    ``generator.safetensors``, ``config.json`` and (``card=True``) a ``README.md`` model card
    and its ``samples.png``, from the run's newest checkpoint. With ``onnx``: an ONNX graph of
    the generator at that path (needs the ``export`` extra).
    """
    if onnx is not None:
        from gankit.export.onnx import _need, export_onnx
        from gankit.sampling.loading import load_generator

        _need("onnx")
        export_onnx(load_generator(run, "cpu"), onnx)
        return Path(onnx)
    from gankit.export.folder import rewrite_export

    return rewrite_export(run, out, card=card)


def push_to_hub(folder: str | Path, repo_id: str, **kwargs: Any) -> str:
    """Upload an export folder to the Hugging Face Hub (needs ``pip install gankit[hub]``).

    See :func:`gankit.export.hub.push_to_hub`; returns the URL of the uploaded folder.
    """
    from gankit.export.hub import push_to_hub as _push

    return _push(folder, repo_id, **kwargs)
