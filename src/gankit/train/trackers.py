"""Experiment trackers as logging sinks: TensorBoard, Weights & Biases, MLflow.

Chosen in the config, ``train.loggers: [tensorboard, wandb, mlflow]`` (default: none). Each
sink is a trainer :class:`~gankit.train.callbacks.Callback` and sends, under the names of
``stats.jsonl`` and at the trainer's step:

* every log record's numbers: losses, D outputs (``d_real``, ``d_fake``), gradient norms
  (``grad_norm/D``...), ``img_per_s``, ``images_seen``, ``lr_scale``;
* what observers add to ``stats.jsonl`` (the health monitor's ``health/diversity`` at sample
  steps), handed over as ``stats`` events by ``trainer.write_stats``, and every result of periodic
  evaluation (its ``metrics`` events) as ``metrics/<name>`` (e.g. ``metrics/fid``); the run's
  files are never read back;
* health warnings as a scalar ``health/<kind>`` = 1 at the warning's step plus the message and
  hint as text (the trainer's raw non-finite events when the health monitor is off);
* every fixed-seed sample grid (``fakes_NNNNNN.png``) as an image;
* the resolved config as hyperparameters, once at the start.

Where the records go: TensorBoard event files in ``RUN/tensorboard/``; W&B into the project
``train.tracker_project`` (offline runs in ``RUN/wandb/`` unless ``WANDB_DIR`` is set; mode,
entity and key come from W&B's own settings, e.g. ``WANDB_MODE=offline``); MLflow into the
experiment ``train.tracker_project`` of ``train.mlflow_uri`` (empty: ``MLFLOW_TRACKING_URI`` or
MLflow's default). Runs are named after the run folder. A resumed run continues the same W&B
and MLflow runs (their ids are kept in ``RUN/trackers.json``); TensorBoard drops the events
logged after the resumed step.

Each client is an optional extra, imported when a sink is built: a missing one is a
:class:`~gankit.errors.ConfigError` naming the ``pip install`` line, raised before the run
folder is touched. A tracker that cannot start (no login, a store it cannot open) stops the run
before its first step; one that fails later (a server gone, a full disk) is warned about once
and the training goes on.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from gankit.errors import ConfigError, TrainingError
from gankit.train.callbacks import Callback

log = logging.getLogger("gankit.train")

STATE_FILE = "trackers.json"


def flatten_config(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr_g": 2e-4}}`` -> ``{"train.lr_g": 2e-4}``; lists become strings."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_config(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(list(v))
        else:
            out[key] = v
    return out


def _numbers(record: dict[str, Any], prefix: str = "") -> dict[str, float]:
    skip = ("step", "time")
    return {prefix + k: float(v) for k, v in record.items()
            if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)}


def _first_line(error: BaseException) -> str:
    """An exception's first line without its final full stop, to quote inside a sentence."""
    lines = str(error).strip().splitlines()
    return lines[0].rstrip(". ") if lines else type(error).__name__


def _require(module: str, extra: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"train.loggers: {extra} needs the {module.split('.')[0]} package "
                          f"({e}); install it with pip install 'gankit[{extra}]' or remove "
                          f"{extra} from train.loggers") from None


class TrackerSink(Callback):
    """Turns trainer events into the calls of one tracker.

    A subclass implements ``open(trainer, resumed)`` (raise a ``GankitError`` when the tracker
    cannot start: the run stops before training), ``hyperparams(flat, nested)``,
    ``scalars(step, values)``, ``image(step, path)``, ``warning(step, kind, text)``, and
    optionally ``flush()`` and ``close(status)`` (``finished`` or ``failed``: an error or an
    interrupt). Failures after the start are logged and counted, never raised.
    """

    name = ""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.out: Path | None = None
        self._closed = False
        self._failures = 0

    # ------------------------------------------------------------------ callback hooks
    def on_start(self, trainer: Any) -> None:
        self.out = Path(trainer.out)
        self.open(trainer, resumed=trainer.step > 0)
        nested = self.cfg.to_dict()
        self.hyperparams(flatten_config(nested), nested)

    def on_log(self, trainer: Any, record: dict[str, Any]) -> None:
        self._guard(self._send_record, int(record.get("step", trainer.step)), record)

    def on_sample(self, trainer: Any, path: Any) -> None:
        self._guard(self._send_sample, trainer.step, Path(path))

    def on_checkpoint(self, trainer: Any, path: Any) -> None:
        self._guard(self.flush)

    def on_event(self, trainer: Any, event: dict[str, Any]) -> None:
        if event.get("event") == "stats":  # a stats.jsonl line written outside on_log
            self._guard(self._send_line, event["line"])
        elif event.get("event") == "metrics":  # periodic evaluation's result
            self._guard(self._send_metrics, event)

    def on_end(self, trainer: Any) -> None:
        self._finish("finished")

    def on_error(self, trainer: Any, error: BaseException) -> None:
        self._finish("failed")

    # ------------------------------------------------------------------ helpers
    def _send_record(self, step: int, record: dict[str, Any]) -> None:
        self.scalars(step, _numbers(record))
        self._warnings(record)

    def _send_sample(self, step: int, path: Path) -> None:
        self.image(step, path)
        self.flush()

    def _send_line(self, r: dict[str, Any]) -> None:
        step = int(r.get("step", 0))
        nums = _numbers(r)
        if nums:
            self.scalars(step, nums)
        self._warnings(r)
        if r.get("event") and not self.cfg.train.health:  # else the monitor warns about it
            self.warning(step, str(r["event"]), f"{r.get('what', r['event'])} in phase "
                                                f"{r.get('phase', '?')}")

    def _send_metrics(self, r: dict[str, Any]) -> None:
        self.scalars(int(r.get("step", 0)), _numbers(r, "metrics/"))

    def _guard(self, send, *args: Any) -> None:
        """A tracker that fails mid-run (a server gone, a full disk) costs its records, never
        the training: the first failure is logged, later ones are counted."""
        try:
            send(*args)
        except Exception as e:  # noqa: BLE001
            self._failures += 1
            if self._failures == 1:
                log.warning("%s: could not log (%s: %s); training goes on, and %s may miss "
                            "records", self.name, type(e).__name__, _first_line(e), self.name)

    def _finish(self, status: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._guard(self.close, status)
        if self._failures:
            log.warning("%s: %d event(s) could not be logged", self.name, self._failures)

    def _warnings(self, record: dict[str, Any]) -> None:
        for w in record.get("warnings") or []:
            step = int(w.get("step", record.get("step", 0)))
            text = f"{w.get('message', '')}. Hint: {w.get('hint', '')}"
            self.warning(step, str(w.get("kind", "warning")), text)

    def _state(self) -> dict[str, Any]:
        try:
            return json.loads((self.out / STATE_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, **values: Any) -> None:
        from gankit.utils.io import atomic_write_text

        state = {**self._state(), **values}
        atomic_write_text(self.out / STATE_FILE, json.dumps(state, indent=1) + "\n")

    # ------------------------------------------------------------------ per tracker
    def open(self, trainer: Any, resumed: bool) -> None:
        raise NotImplementedError

    def hyperparams(self, flat: dict[str, Any], nested: dict[str, Any]) -> None:
        raise NotImplementedError

    def scalars(self, step: int, values: dict[str, float]) -> None:
        raise NotImplementedError

    def image(self, step: int, path: Path) -> None:
        raise NotImplementedError

    def warning(self, step: int, kind: str, text: str) -> None:
        raise NotImplementedError

    def flush(self) -> None:
        pass

    def close(self, status: str) -> None:
        pass


class TensorBoardSink(TrackerSink):
    """Event files in ``RUN/tensorboard/`` (``tensorboard --logdir runs`` shows every run)."""

    name = "tensorboard"

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        _require("tensorboard", "tensorboard")
        self._tb = _require("torch.utils.tensorboard", "tensorboard")
        self.writer = None

    def open(self, trainer: Any, resumed: bool) -> None:
        # purge_step: an earlier attempt's events after the resumed checkpoint are hidden (those
        # of its own step were logged before it was saved)
        self.writer = self._tb.SummaryWriter(str(self.out / "tensorboard"),
                                             purge_step=trainer.step + 1 if resumed else None)

    def hyperparams(self, flat: dict[str, Any], nested: dict[str, Any]) -> None:
        import yaml
        from torch.utils.tensorboard.summary import hparams

        values = {k: v if isinstance(v, (int, float, str, bool)) else str(v)
                  for k, v in flat.items()}
        # written into this run's own event file (add_hparams would make a sub-run)
        for summary in hparams(values, {}):
            self.writer.file_writer.add_summary(summary)
        text = yaml.safe_dump(nested, sort_keys=False)
        self.writer.add_text("config", "    " + text.replace("\n", "\n    "), 0)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        for k, v in values.items():
            self.writer.add_scalar(k, v, step)

    def image(self, step: int, path: Path) -> None:
        import numpy as np
        from PIL import Image

        with Image.open(path) as im:
            pixels = np.asarray(im.convert("RGB"))
        self.writer.add_image("samples", pixels, step, dataformats="HWC")

    def warning(self, step: int, kind: str, text: str) -> None:
        self.writer.add_scalar(f"health/{kind}", 1.0, step)
        self.writer.add_text("health", f"**{kind}** at step {step}: {text}", step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self, status: str) -> None:
        if self.writer is not None:
            self.writer.close()


class WandbSink(TrackerSink):
    """A W&B run; ``step`` is its x-axis, so a rollback or a resume may log a step again."""

    name = "wandb"

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self._wandb = _require("wandb", "wandb")
        self.run = None
        self._table: list[list[Any]] = []

    def open(self, trainer: Any, resumed: bool) -> None:
        import os

        wandb = self._wandb
        run_id = self._state().get("wandb_id") if resumed else None
        kwargs: dict[str, Any] = {}
        if not os.environ.get("WANDB_DIR"):
            kwargs["dir"] = str(self.out)
        try:
            self.run = wandb.init(project=self.cfg.train.tracker_project, name=self.out.name,
                                  id=run_id, resume="allow" if run_id else None,
                                  reinit="create_new", **kwargs)
        except Exception as e:  # noqa: BLE001 - no login, no network, bad settings
            raise TrainingError(f"W&B could not start a run: {_first_line(e)}; run "
                                f"`wandb login`, or set WANDB_MODE=offline to log locally") from e
        self._save_state(wandb_id=self.run.id)
        self.run.define_metric("step")
        self.run.define_metric("*", step_metric="step")

    def hyperparams(self, flat: dict[str, Any], nested: dict[str, Any]) -> None:
        self.run.config.update(nested, allow_val_change=True)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self.run.log({"step": step, **values})

    def image(self, step: int, path: Path) -> None:
        self.run.log({"step": step, "samples": self._wandb.Image(str(path),
                                                                 caption=f"step {step}")})

    def warning(self, step: int, kind: str, text: str) -> None:
        self._table.append([step, kind, text])
        table = self._wandb.Table(columns=["step", "kind", "message"], data=self._table)
        self.run.log({"step": step, f"health/{kind}": 1.0, "health/warnings": table})

    def close(self, status: str) -> None:
        if self.run is not None:
            self.run.finish(exit_code=0 if status == "finished" else 1)
            self.run = None


class MlflowSink(TrackerSink):
    """An MLflow run through ``MlflowClient`` (no global active run is touched)."""

    name = "mlflow"
    BATCH = 100  # params / metrics per log_batch call (MLflow's request limits)

    def __init__(self, cfg: Any):
        super().__init__(cfg)
        self._mlflow = _require("mlflow", "mlflow")
        self.client = None
        self.run_id = ""
        self._health: list[str] = []

    def open(self, trainer: Any, resumed: bool) -> None:
        from mlflow.tracking import MlflowClient

        where = self.cfg.train.mlflow_uri or self._mlflow.get_tracking_uri()
        try:
            self.client = MlflowClient(tracking_uri=where)
            state = self._state() if resumed else {}
            if state.get("mlflow_run_id") and state.get("mlflow_uri") == where:
                self.run_id = state["mlflow_run_id"]
                self.client.update_run(self.run_id, status="RUNNING")
            else:
                name = self.cfg.train.tracker_project
                exp = self.client.get_experiment_by_name(name)
                exp_id = exp.experiment_id if exp else self.client.create_experiment(name)
                run = self.client.create_run(exp_id, run_name=self.out.name,
                                             tags={"gankit.run_dir": str(self.out.resolve()),
                                                   "gankit.model": self.cfg.model.name,
                                                   "gankit.preset": self.cfg.preset or "-"})
                self.run_id = run.info.run_id
        except self._mlflow.exceptions.MlflowException as e:
            raise TrainingError(f"MLflow could not open a run in {where}: "
                                f"{_first_line(e)}; set train.mlflow_uri (or "
                                f"MLFLOW_TRACKING_URI) to a store that works") from e
        self._save_state(mlflow_run_id=self.run_id, mlflow_uri=where)

    def hyperparams(self, flat: dict[str, Any], nested: dict[str, Any]) -> None:
        from mlflow.entities import Param

        # params cannot change once logged: a resumed run logs only the ones it lacks
        have = self.client.get_run(self.run_id).data.params
        params = [Param(k, str(v)[:6000]) for k, v in flat.items() if k not in have]
        for i in range(0, len(params), self.BATCH):
            self.client.log_batch(self.run_id, params=params[i:i + self.BATCH])
        self.client.log_dict(self.run_id, nested, "config.yaml")

    def scalars(self, step: int, values: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(self._key(k), v, now, step) for k, v in values.items()]
        for i in range(0, len(metrics), self.BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[i:i + self.BATCH])

    @staticmethod
    def _key(name: str) -> str:
        # MLflow keys allow alphanumerics, _ - . space / only
        return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in name)

    def image(self, step: int, path: Path) -> None:
        self.client.log_artifact(self.run_id, str(path), "samples")

    def warning(self, step: int, kind: str, text: str) -> None:
        self.scalars(step, {f"health/{kind}": 1.0})
        self._health.append(f"step {step} [{kind}] {text}")
        self.client.log_text(self.run_id, "\n".join(self._health) + "\n", "health.txt")

    def close(self, status: str) -> None:
        if self.client is not None and self.run_id:
            self.client.set_terminated(self.run_id,
                                       "FINISHED" if status == "finished" else "FAILED")


SINKS = {"tensorboard": TensorBoardSink, "wandb": WandbSink, "mlflow": MlflowSink}


def make_trackers(cfg: Any) -> list[Callback]:
    """The sinks ``cfg.train.loggers`` names, each once, in order."""
    out: list[Callback] = []
    for name in dict.fromkeys(cfg.train.loggers):
        if name not in SINKS:
            raise ConfigError(f"train.loggers: unknown tracker {name!r}; choose from "
                              f"{', '.join(SINKS)}")
        out.append(SINKS[name](cfg))
    return out
