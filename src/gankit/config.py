"""Typed configuration: dataclasses with documented defaults, YAML presets, dotted overrides.

A run's configuration has these sections::

    model:  name + the model's own dataclass (each variant declares ``Config``)
    data:   DataConfig
    train:  TrainConfig
    health: HealthConfig (the health monitor's thresholds)
    eval:   EvalConfig (periodic evaluation)

Presets (``gankit/configs/*.yaml``, also reachable as ``configs/`` in the repository) hold only
the differences from these defaults. Unknown keys, wrong types, out-of-range and non-finite
values are ``ConfigError``\\ s that name the dotted key and suggest the closest valid one.

Every field is declared with :func:`opt`, which carries its help text, so ``gankit list`` and
the docs can show what each knob does.
"""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gankit.errors import ConfigError, did_you_mean
from gankit.utils.yamlsafe import MAX_YAML_BYTES, load_yaml  # noqa: F401 - re-exported

PRESET_DIR = Path(__file__).parent / "configs"


def opt(default: Any, help: str, *, min: float | None = None, max: float | None = None,
        choices: tuple | None = None) -> Any:
    """Declare a config field with its help text and validation bounds."""
    meta = {"help": help, "min": min, "max": max, "choices": choices}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class ModelConfig:
    """Base of every model's config; ``name`` selects the registered model."""

    name: str = opt("gan", "registered model name (`gankit list` shows them)")


@dataclass
class DataConfig:
    dataset: str = opt("fashion-mnist",
                       "dataset name (mnist, fashion-mnist, cifar10, ...), folder:PATH or npz:PATH")
    root: str = opt("", "where dataset files live; empty = $GANKIT_DATA, the user cache, "
                        "/usr/share/datasets")
    split: str = opt("train", "dataset split to train on", choices=("train", "test", "all"))
    resolution: int = opt(0, "square image size fed to the model; 0 = the dataset's own size", min=0)
    channels: int = opt(0, "1 = greyscale, 3 = RGB, 0 = the dataset's own", choices=(0, 1, 3))
    center_crop: int = opt(0, "crop a centred square of this many pixels before resizing; "
                              "0 = the largest centred square", min=0)
    flip: bool = opt(False, "random horizontal flips, drawn afresh for every batch")
    limit: int = opt(0, "use only the first N examples (0 = all)", min=0)
    labels: bool = opt(True, "read class labels where the dataset has them")
    download: bool = opt(True, "download a missing built-in dataset from its official source")
    stream: str | bool = opt("auto", "folder:/zip: sets: decode per batch in DataLoader workers "
                                     "instead of all into memory; auto = when the decoded set "
                                     "is over 2 GB or a quarter of RAM",
                             choices=("auto", True, False))
    workers: int = opt(2, "DataLoader worker processes decoding a streamed set (0 = decode in "
                          "the training process)", min=0)


@dataclass
class TrainConfig:
    steps: int = opt(2000, "generator steps to train for", min=1)
    batch_size: int = opt(64, "images per batch per process", min=1)
    lr_g: float = opt(2e-4, "generator learning rate", min=0.0)
    lr_d: float = opt(2e-4, "discriminator learning rate (TTUR: may differ from lr_g)", min=0.0)
    beta1: float = opt(0.5, "Adam beta1", min=0.0, max=1.0)
    beta2: float = opt(0.999, "Adam beta2", min=0.0, max=1.0)
    adam_eps: float = opt(1e-8, "Adam epsilon: updates shrink in proportion to gradients well "
                                "below it, instead of Adam's unit-size steps", min=0.0)
    d_steps: int = opt(1, "discriminator (critic) steps per generator step (n_critic)", min=1)
    grad_clip: float = opt(0.0, "clip each phase's gradient norm to this (0 = off)", min=0.0)
    amp: str = opt("auto", "mixed precision: auto (bf16 where the hardware has it, fp32 for "
                           "2-D point data, finer than bf16 resolves), off, bf16, "
                           "fp16 (CUDA, with a gradient scaler)",
                   choices=("auto", "off", "bf16", "fp16"))
    channels_last: bool = opt(True, "use channels_last memory format for conv models")
    compile: bool = opt(False, "torch.compile G and D (not used on gradient-penalty paths)")
    ema_decay: float = opt(0.0, "decay of an exponential moving average of G (0 = off, "
                                "e.g. 0.999)", min=0.0, max=1.0)
    ema_start: int = opt(0, "step at which the EMA starts averaging (copies G before)", min=0)
    ema_rampup: float = opt(0.0, "grow the average's half-life with the run, as StyleGAN2-ADA: "
                                 "at most this fraction of the steps averaged so far, up to "
                                 "ema_decay's half-life (0 = off, e.g. 0.05-0.1)",
                            min=0.0, max=1.0)
    seed: int = opt(0, "seed of every random number in the run", min=0)
    threads: int = opt(0, "CPU threads for torch (0 = chosen for the model size)", min=0)
    device: str = opt("auto", "auto, cpu, cuda or cuda:N")
    log_every: int = opt(50, "steps between stats.jsonl lines and progress updates", min=1)
    sample_every: int = opt(500, "steps between fixed-seed sample grids (0 = only at the end)",
                            min=0)
    checkpoint_every: int = opt(500, "steps between checkpoints (0 = only at the end)", min=0)
    keep_checkpoints: int = opt(3, "numbered checkpoints to keep besides latest.pt (0 = all)",
                                min=0)
    grid_size: int = opt(64, "images in each sample grid", min=1)
    progress: bool = opt(True, "show a progress bar")
    nan_policy: str = opt("stop", "on a non-finite loss: stop (keep the last good checkpoint) or "
                                  "rollback (reload it and halve the learning rates)",
                          choices=("stop", "rollback"))
    health: bool = opt(True, "watch the run for failure modes (D wins, collapsed D, mode "
                             "collapse, NaN/Inf, oscillation) and warn with a hint")
    report: bool = opt(True, "write report.html in the run folder (samples, curves, metrics, "
                             "config, health warnings)")
    report_max_grids: int = opt(24, "sample grids embedded in report.html (evenly spaced, "
                                    "the last always kept)", min=1)
    loggers: list[str] = opt([], "experiment trackers that receive the logged numbers, sample "
                                 "grids and the config: tensorboard, wandb, mlflow (each needs "
                                 "its extra, e.g. pip install 'gankit[tensorboard]')",
                             choices=("tensorboard", "wandb", "mlflow"))
    tracker_project: str = opt("gankit", "W&B project and MLflow experiment the run is logged "
                                         "to (the run is named after its folder)")
    mlflow_uri: str = opt("", "MLflow tracking URI, e.g. http://host:5000 or sqlite:///mlflow.db "
                              "(empty = $MLFLOW_TRACKING_URI, else MLflow's default)")


@dataclass
class HealthConfig:
    """Thresholds of the training-health monitor (``gankit.train.health``; ``train.health``
    turns it on or off)."""

    window: int = opt(5, "log records the health checks average over", min=2)
    cooldown: int = opt(20, "log records before a still-active health warning repeats",
                        min=1)
    d_real_high: float = opt(0.8, "D wins: mean D(x) above this (label smoothing caps "
                                  "D(x) near 0.9) ...", min=0.0, max=1.0)
    d_fake_low: float = opt(0.1, "... and mean D(G(z)) below this", min=0.0, max=1.0)
    d_fake_geo_low: float = opt(0.01, "D wins, bce loss: or the geometric mean of "
                                      "D(G(z)), exp(-loss_g), below this", min=0.0,
                                max=1.0)
    d_fake_high: float = opt(0.9, "G fools D: mean D(G(z)) above this", min=0.0, max=1.0)
    collapse_band: float = opt(0.05, "collapsed D: D(x) and D(G(z)) within this of 0.5 "
                                     "...", min=0.0, max=0.5)
    d_grad_low: float = opt(1e-3, "... and D's gradient norm below this", min=0.0)
    diversity_min: float = opt(0.03, "mode collapse: fixed-seed fakes' mean pairwise "
                                    "distance below this fraction of the reals'", min=0.0)
    diversity_drop: float = opt(0.5, "mode collapse: diversity below this fraction of "
                                     "the best seen earlier in the run", min=0.0, max=1.0)
    duplicate_max: float = opt(0.5, "mode collapse: share of fakes with a near-duplicate "
                                    "above this", min=0.0, max=1.0)
    osc_amplitude: float = opt(0.5, "oscillation: loss std / (|mean| + 0.1) above this "
                                    "...", min=0.0)
    osc_flips: float = opt(0.8, "... with this share of direction flips", min=0.0,
                           max=1.0)


@dataclass
class EvalConfig:
    """Periodic evaluation during training (``gankit.metrics.training.EvalCallback``)."""

    every: int = opt(0, "evaluate at checkpoints whose step is a multiple of this, and at the "
                        "end (0 = off); use a multiple of train.checkpoint_every", min=0)
    metrics: str = opt("fid", "comma list of fid, is, kid, pr, coverage; the first one picks "
                              "checkpoints/best.pt")
    num: int = opt(5000, "generated images per evaluation", min=2)
    ref: str = opt("", "reference dataset, e.g. cifar10:train (empty = the run's own training "
                       "images, at the training resolution)")
    num_ref: int = opt(0, "reference images (0 = all)", min=0)
    feature_net: str = opt("inception", "feature net: inception, mnist or fashion-mnist")
    resize: str = opt("legacy", "Inception resize: legacy (pytorch-fid) or clean (clean-fid)",
                      choices=("legacy", "clean"))
    weights: str = opt("", "feature net weights file (empty = the usual locations)")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    preset: str = opt("", "the preset this config came from (informational)")
    description: str = opt("", "what this preset trains and how long it takes")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------- loading
def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        if path.is_dir():
            raise ConfigError(f"{path} is a directory, not a YAML config file; pass the file "
                              f"(e.g. {path / 'config.yaml'}) or a preset name")
        if path.stat().st_size > MAX_YAML_BYTES:
            raise ConfigError(f"{path} is {path.stat().st_size:,} bytes, too large for a config "
                              f"(limit {MAX_YAML_BYTES:,}); is it the right file?")
        data = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path} is not UTF-8 text (byte {e.start}); save the config as "
                          f"UTF-8") from None
    except OSError as e:
        raise ConfigError(f"cannot read config file {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of sections (model:, data:, train:)")
    return data


def read_source(source: str | Path | dict) -> tuple[dict[str, Any], str]:
    """Return (raw dict, preset name) for a preset name, a YAML path, or a dict.

    A preset or file may start from another one with ``base: NAME`` (a preset name, or a YAML
    path relative to the file): the base is read first and this file's sections are merged
    over it key by key, so a variant holds only what differs from its base.
    """
    return _read_source(source, ())


def _read_source(source: str | Path | dict, chain: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    if isinstance(source, dict):
        raw = _with_base(dict(source), Path.cwd(), chain + ("<dict>",))
        return raw, str(source.get("preset", ""))
    text = str(source)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or path.exists():
        raw = _with_base(_read_yaml(path), path.parent, _chain(chain, path, text))
        return raw, raw.get("preset", path.stem)
    preset = PRESET_DIR / f"{text}.yaml"
    if preset.exists():
        raw = _with_base(_read_yaml(preset), PRESET_DIR, _chain(chain, preset, text))
        raw.setdefault("preset", text)
        return raw, text
    raise ConfigError(f"no preset or config file named {text!r}"
                      f"{did_you_mean(text, list_presets())} (presets: {', '.join(list_presets())})")


def _chain(chain: tuple[str, ...], path: Path, name: str) -> tuple[str, ...]:
    """``chain`` + this file; a file already in it means the ``base:`` links loop."""
    key = str(path.resolve())
    if key in chain:
        names = [Path(c).stem for c in chain[chain.index(key):]] + [Path(name).stem]
        raise ConfigError(f"base: the presets form a cycle ({' -> '.join(names)}); "
                          f"one of them must not name the other as its base")
    return chain + (key,)


def _with_base(raw: dict[str, Any], folder: Path, chain: tuple[str, ...]) -> dict[str, Any]:
    """``raw`` merged over the config its ``base:`` names (none: ``raw`` unchanged)."""
    if "base" not in raw:
        return raw
    base = raw.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{Path(chain[-1]).name}: base: must name a preset or a YAML file, "
                          f"got {base!r}")
    ref = base.strip()
    target: str | Path = ref
    if ref.endswith((".yaml", ".yml")) and not Path(ref).is_absolute():
        target = folder / ref
    parent, _ = _read_source(target, chain)
    parent.pop("preset", None)  # the preset is the file asked for, not its base
    return _merge(parent, raw)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Sections merge key by key; values (lists included) in ``over`` replace the base's."""
    out = _deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = _deepcopy(value)
    return out


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``section.key=value``; the value is read as YAML (numbers, bools, lists)."""
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like section.key=value, "
                          f"e.g. train.batch_size=64")
    key, _, value = item.partition("=")
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {item!r} has an empty key")
    try:
        parsed = load_yaml(value) if value.strip() else ""
    except (yaml.YAMLError, ConfigError):  # not YAML (e.g. a glob *.png): the text itself
        parsed = value
    return parts, parsed


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    raw = _deepcopy(raw)
    for item in overrides:
        parts, value = parse_override(item)
        node = raw
        for p in parts[:-1]:
            nxt = node.get(p)
            if nxt is None:
                nxt = node[p] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {p} is a value, not a section")
            node = nxt
        node[parts[-1]] = value
    return raw


def _deepcopy(d: Any) -> Any:
    if isinstance(d, dict):
        return {k: _deepcopy(v) for k, v in d.items()}
    if isinstance(d, list):
        return [_deepcopy(v) for v in d]
    return d


def load_config(source: str | Path | dict = "fashion-mnist-dcgan",
                overrides: list[str] | None = None) -> Config:
    """Build a validated :class:`Config` from a preset name, YAML file or dict plus overrides."""
    raw, preset = read_source(source)
    raw = apply_overrides(raw, list(overrides or []))
    return config_from_dict(raw, preset=preset)


# keys that moved: a config naming the old one is refused with the new name (saved configs,
# in checkpoints and exports, are moved over: ``config_from_dict(..., saved=True)``)
MOVED = {f"train.health_{f.name}": f"health.{f.name}" for f in dataclasses.fields(HealthConfig)}


def _move_saved_keys(raw: dict[str, Any]) -> None:
    train, health = raw.get("train"), raw.setdefault("health", {})
    for old, new in MOVED.items():
        key = old.split(".", 1)[1]
        if isinstance(train, dict) and key in train:
            health.setdefault(new.split(".", 1)[1], train.pop(key))


def config_from_dict(raw: dict[str, Any], preset: str = "", saved: bool = False) -> Config:
    """Validate ``raw`` into a :class:`Config`. ``saved``: a config read back from a checkpoint
    or export, which may use keys of an older gankit (moved to their new place, see MOVED)."""
    from gankit.registry import MODELS  # registry imports models lazily

    if not isinstance(raw, dict):
        raise ConfigError("a config must be a mapping with model:, data: and train: sections")
    raw = _deepcopy(raw)
    if saved:
        _move_saved_keys(raw)
    allowed = {f.name for f in dataclasses.fields(Config)}
    for key in raw:
        if key not in allowed:
            raise ConfigError(f"{key}: unknown section{did_you_mean(key, allowed)} "
                              f"(sections: model, data, train, health, eval)")
    model_raw = raw.get("model") or {}
    if not isinstance(model_raw, dict):
        raise ConfigError("model: must be a mapping, e.g. {name: dcgan}")
    name = model_raw.get("name", ModelConfig.name)
    model_cls = MODELS.get(str(name))
    cfg = Config(
        model=from_dict(model_cls.Config, model_raw, "model"),
        data=from_dict(DataConfig, raw.get("data") or {}, "data"),
        train=from_dict(TrainConfig, raw.get("train") or {}, "train"),
        health=from_dict(HealthConfig, raw.get("health") or {}, "health"),
        eval=from_dict(EvalConfig, raw.get("eval") or {}, "eval"),
        preset=str(raw.get("preset", preset) or ""),
        description=str(raw.get("description", "") or ""),
    )
    return cfg


def from_dict(cls: type, raw: dict[str, Any], where: str) -> Any:
    """Build dataclass ``cls`` from ``raw``, rejecting unknown keys and wrong types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in raw.items():
        path = f"{where}.{key}"
        if path in MOVED:
            raise ConfigError(f"{path} is now {MOVED[path]}: the health monitor's thresholds "
                              f"have their own section (health:); rename the key")
        if key not in fields:
            raise ConfigError(f"{path}: unknown key{did_you_mean(key, fields)}"
                              f" (valid keys: {', '.join(fields)})")
        kwargs[key] = _check_value(path, hints[key], value, fields[key].metadata)
    return cls(**kwargs)


def _check_value(path: str, tp: Any, value: Any, meta: Any) -> Any:
    value = _coerce(path, tp, value)
    if meta:
        lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
        for v in (value if isinstance(value, list) else [value]) if choices is not None else []:
            if v not in choices:  # a list's choices hold for each of its items
                raise ConfigError(f"{path}: {v!r} is not one of {', '.join(map(str, choices))}"
                                  f"{did_you_mean(str(v), map(str, choices))}")
        for v in value if isinstance(value, (list, tuple)) else [value]:  # bounds of each item
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if lo is not None and v < lo:
                    raise ConfigError(f"{path}: {v} is below the minimum {lo}")
                if hi is not None and v > hi:
                    raise ConfigError(f"{path}: {v} is above the maximum {hi}")
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(path: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(path, a, value)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{path}: invalid value {value!r}")
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value or {}, path)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        inner = args[0] if args else Any
        if isinstance(value, str) and inner is str:  # a list of names: `a,b` on the command line
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        items = [_coerce(f"{path}[{i}]", inner, v) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{path}: expected true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{path}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            v = float(value)
            if not math.isfinite(v):
                raise ConfigError(f"{path}: must be a finite number, got {value!r}")
            return v
        if isinstance(value, str):
            try:
                v = float(value)  # YAML reads 1e-4 (no dot) as a string
            except ValueError:
                pass
            else:
                if not math.isfinite(v):
                    raise ConfigError(f"{path}: must be a finite number, got {value!r}")
                return v
        raise ConfigError(f"{path}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{path}: expected a string, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{path}: expected {_type_name(tp)}, got {value!r}")
    return value


def save_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML, atomically (a crash leaves the old file or the new)."""
    from gankit.utils.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def describe(cls: type, prefix: str) -> list[tuple[str, Any, str]]:
    """(dotted key, default, help) for every field of a config dataclass."""
    out = []
    for f in dataclasses.fields(cls):
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        out.append((f"{prefix}.{f.name}", default, f.metadata.get("help", "")))
    return out
