"""The model card of an exported generator: ``README.md`` and ``samples.png`` in the folder.

An export folder is then a Hugging Face Hub style model folder: weights
(``generator.safetensors``), ``config.json`` and a card that says what the model is, what it
was trained on and for how long, its metrics with their protocol (from the run's
``metrics.jsonl`` where periodic evaluation ran), a grid of samples and how to load it.

The card is written from the export itself (loaded back on the CPU as a user would), so the
grid shows exactly what ``gankit sample EXPORT --seeds 0-15`` gives.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

CARD_NAME = "README.md"
GRID_NAME = "samples.png"
GRID_SEEDS = 16
GRID_MIN_WIDTH = 384  # pixels; smaller grids are enlarged by a whole factor to at least this
# metrics.jsonl fields that are bookkeeping, not metrics
_NOT_METRICS = {"step", "time", "checkpoint", "headline", "seconds", "protocol"}


def run_metrics(run_dir: str | Path | None, step: int) -> dict[str, Any] | None:
    """The run's evaluation record at ``step`` (else the newest before it), or None."""
    if run_dir is None:
        return None
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return None
    best = None
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:  # a torn last line of a killed run
            continue
        if isinstance(rec, dict) and isinstance(rec.get("step"), int) and rec["step"] <= step:
            if best is None or rec["step"] >= best["step"]:
                best = rec
    return best


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _metrics_section(rec: dict[str, Any] | None) -> list[str]:
    if rec is None:
        return ["No metrics were recorded for this run (periodic evaluation, `eval.every`, was "
                "off). Compute them with e.g. `gankit evaluate FOLDER --metrics fid,kid`; every "
                "number is printed with its protocol."]
    p = rec.get("protocol") or {}
    lines = [f"Evaluated at step {rec['step']} (`{rec.get('checkpoint', '')}`) during training:",
             "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in rec.items() if k not in _NOT_METRICS]
    side = f"{p.get('num_source', '?')} generated images"
    if "reference" in p:
        side += f" vs {p.get('num_reference', '?')} images of `{p['reference']}`"
    lines += ["", f"Protocol: feature net {p.get('feature_net', '?')}; resize "
                  f"{p.get('resize', '?')}; {side}."]
    return lines


def _count_params(gens) -> int:
    return sum(p.numel() for m in gens.values() for p in m.parameters())


def _usage(caps: list[str], folder: str, grid: bool) -> list[str]:
    """The card's "How to use" section, for what the model can do."""
    if "sample" in caps:
        use = ["images = G.generate(seeds=[0, 1, 2])  # N x C x H x W float in [-1, 1]"]
        cli = f"gankit sample {folder} --outdir samples/ --seeds 0-99   # seed0000.png ..."
    elif "translate" in caps:
        use = ['y = G.model.translate(x, "AtoB")  # x: N x C x R x R float in [-1, 1]']
        cli = f"gankit translate {folder} photos/ --direction AtoB --out translated/"
    else:
        use = ["nets = G.gens  # the exported networks (torch.nn.Module), in eval mode"]
        cli = "gankit --help   # the commands that use this kind of model"
    lines = ["## How to use", "", "```python", "import gankit", "",
             f'G = gankit.load("{folder}")  # or gankit.Generator.from_pretrained(...)', *use,
             "```", "", "With torch.hub (from a checkout of gankit):", "", "```python",
             "import torch", "",
             f'G = torch.hub.load("path/to/gankit", "generator", path="{folder}", '
             'source="local")', "```", "",
             "From the Hugging Face Hub, where the folder was uploaded with "
             "`gankit.push_to_hub(folder, repo_id)` or `gankit export RUN --push REPO_ID`:", "",
             "```python", "from huggingface_hub import snapshot_download", "",
             'G = gankit.load(snapshot_download("USER/REPO"))', "```", "",
             "From the command line:", "", "```bash", cli, "```", "",
             "Files: `generator.safetensors` (weights), `config.json` (config, data info and "
             "the weights' sha256), this card" + (" and its sample grid." if grid else "."), ""]
    return lines


def render_card(gen, *, metrics: dict[str, Any] | None = None, grid: bool = True,
                folder_name: str = "export") -> str:
    """The README.md text for a loaded :class:`~gankit.sampling.loading.Generator`."""
    cfg, info, meta = gen.cfg, gen.info, getattr(gen, "meta", {}) or {}
    model, data, t = cfg.model, cfg.data, cfg.train
    caps = sorted(gen.capabilities)
    pipeline = ("image-to-image" if "translate" in caps else
                "unconditional-image-generation" if "sample" in caps and info.kind == "image"
                else "")
    title = f"{model.name} generator trained on {data.dataset}"
    kimg = gen.step * t.batch_size / 1000
    defaults = dataclasses.asdict(type(model)())
    changed = {k: v for k, v in dataclasses.asdict(model).items()
               if k != "name" and defaults.get(k) != v}
    size = (f"{info.resolution}x{info.resolution}, "
            f"{info.channels} channel{'s' if info.channels != 1 else ''}"
            if info.kind != "points" else f"{info.dim}-d points")
    out = ["---", "library_name: gankit"] + ([f"pipeline_tag: {pipeline}"] if pipeline else [])
    out += [f"tags: [gan, gankit, {model.name}]", "---", "", f"# {title}", ""]
    if cfg.description:  # the preset's words, about the preset's own length and results
        out += [f"> From the description of "
                f"{f'the preset `{cfg.preset}`' if cfg.preset else 'its config'}: "
                f"{' '.join(cfg.description.split())}", ""]
    if grid:
        out += [f"![samples: seeds 0-{GRID_SEEDS - 1}]({GRID_NAME})", "",
                f"`{GRID_NAME}`: seeds 0-{GRID_SEEDS - 1} (small images enlarged)"
                + (", classes cycling 0, 1, 2, ..." if "conditional" in caps else "")
                + ", no truncation.", ""]
    out += ["## Model", "",
            f"- variant: `{model.name}` (gankit {meta.get('gankit_version', '?')}); "
            f"capabilities: {', '.join(caps)}",
            f"- generator nets: {', '.join(gen.gens)}; {_count_params(gen.gens):,} parameters"
            + ("; EMA weights" if meta.get("ema") else ""),
            f"- output: {size}" + (f"; {info.num_classes} classes (conditional)"
                                   if "conditional" in caps else ""),
            f"- settings that differ from the {model.name} defaults: "
            + (f"`{json.dumps(changed)}`" if changed else "none"), "",
            "## Data", "",
            f"- data set: `{data.dataset}`, split `{data.split}`"
            + (f" (first {data.limit} examples)" if data.limit else ""),
            f"- as seen by the model: {size}" + (", random flips" if data.flip else "")]
    if info.class_names:
        out += [f"- classes: {', '.join(info.class_names)}"]
    out += [""]
    out += ["## Training", "",
            f"- {gen.step:,} steps"
            + (f" (of {t.steps:,} planned)" if gen.step != t.steps else "")
            + f" of batch {t.batch_size} ({kimg:g} kimg); "
            f"lr G {t.lr_g:g}, D {t.lr_d:g}; seed {t.seed}",
            f"- preset: `{cfg.preset}`" if cfg.preset else "- preset: none (a custom config)",
            "- the full resolved config is in `config.json` (`config`)", "",
            "## Metrics", ""]
    out += _metrics_section(metrics) + [""]
    out += _usage(caps, folder_name, grid)
    return "\n".join(out)


def write_card(folder: str | Path, run_dir: str | Path | None, gen: Any) -> Path:
    """Write ``README.md`` (and ``samples.png`` for sampling models) into an export folder.

    ``gen``: the generator loaded back from ``folder`` (``load_generator(folder, "cpu")``: the
    card shows what a user of the folder gets); the caller loads it, so that this module does
    not import the sampling tools that write cards. ``run_dir``: the run the export came from
    (for its ``metrics.jsonl``); default the folder's parent when that is a run folder.
    """
    from gankit.utils.images import make_grid, save_image
    from gankit.utils.io import atomic_write_text

    folder = Path(folder)
    if run_dir is None and (folder.parent / "config.yaml").is_file():
        run_dir = folder.parent
    grid = "sample" in gen.capabilities and gen.info.kind == "image"
    if grid:
        seeds = list(range(GRID_SEEDS))
        arr = make_grid(gen.generate(seeds), nrow=int(math.sqrt(GRID_SEEDS)))
        # shown on a web page: small images (4 x 28 px digits) are enlarged, pixels kept sharp
        k = max(1, math.ceil(GRID_MIN_WIDTH / arr.shape[1]))
        save_image(arr.repeat(k, 0).repeat(k, 1), folder / GRID_NAME)
    text = render_card(gen, metrics=run_metrics(run_dir, gen.step), grid=grid,
                       folder_name=str(folder))
    atomic_write_text(folder / CARD_NAME, text)
    return folder / CARD_NAME
