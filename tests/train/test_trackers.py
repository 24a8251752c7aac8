"""Experiment trackers (train.loggers), read back with each tool's own reader, offline.

TensorBoard: the event files through tensorboard's EventAccumulator. MLflow: a local file store
read with MlflowClient. W&B: an offline run, whose .wandb log is read with wandb's own protobuf
records. Each test skips when its package is absent (they are in the `dev` extra).
"""
from __future__ import annotations

import glob
import importlib.util
import json
import struct
import sys
from pathlib import Path

import pytest

from gankit.config import config_from_dict, load_config
from gankit.errors import ConfigError
from gankit.train.callbacks import Callback
from gankit.train.trackers import TrackerSink, flatten_config, make_trackers
from gankit.train.trainer import train


def needs(package: str):
    return pytest.mark.skipif(importlib.util.find_spec(package) is None,
                              reason=f"{package} is not installed (pip install '.[trackers]', "
                                     f"as make test does)")


def tiny_cfg(loggers, steps=6, **train):
    return config_from_dict({
        "model": {"name": "gan", "g_hidden": [16], "d_hidden": [16], "z_dim": 4},
        "data": {"dataset": "synthetic:32", "resolution": 8},
        "train": {"steps": steps, "batch_size": 8, "log_every": 2, "sample_every": 3,
                  "checkpoint_every": 3, "progress": False, "threads": 1, "grid_size": 4,
                  "loggers": loggers, **train}})


class Events(Callback):
    """A health-style warning at step 4 and an evaluation line at each checkpoint, as the
    health monitor and the evaluation callback would write them (user callbacks run before
    the trackers, so these see what it adds)."""

    def on_log(self, trainer, record):
        if record["step"] == 4:
            record.setdefault("warnings", []).append(
                {"kind": "d_wins", "step": 4, "message": "D wins", "hint": "lower train.lr_d"})

    def on_checkpoint(self, trainer, path):
        record = {"step": trainer.step, "time": 0.0, "fid": 100.0 - trainer.step,
                  "protocol": {"num": 4}}
        with open(Path(trainer.out) / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        trainer.emit({"event": "metrics", **record})  # as the evaluation callback hands it on


def stats(run: Path, key: str) -> dict[int, float]:
    out = {}
    for line in (run / "stats.jsonl").read_text().splitlines():
        r = json.loads(line)
        if key in r:
            out[r["step"]] = r[key]
    return out


# --------------------------------------------------------------------------- config / errors

def test_loggers_config_is_checked():
    assert load_config("mnist-dcgan").train.loggers == []
    cfg = load_config("mnist-dcgan", ["train.loggers=tensorboard,mlflow"])
    assert cfg.train.loggers == ["tensorboard", "mlflow"]
    assert load_config("mnist-dcgan", ["train.loggers=[wandb]"]).train.loggers == ["wandb"]
    with pytest.raises(ConfigError, match="'tensorbord' is not one of .*did you mean tensorboard"):
        load_config("mnist-dcgan", ["train.loggers=[tensorbord]"])


def test_missing_client_names_the_extra_before_the_run_starts(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'gankit\[wandb\]'"):
        make_trackers(tiny_cfg(["wandb"]))
    with pytest.raises(ConfigError, match="wandb"):
        train(tiny_cfg(["wandb"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()  # nothing was written


def test_flatten_config():
    flat = flatten_config({"model": {"name": "gan", "g_hidden": [16, 8]}, "preset": ""})
    assert flat == {"model.name": "gan", "model.g_hidden": "[16, 8]", "preset": ""}


class Memory(TrackerSink):
    """A tracker that keeps what it is sent (no package needed): the event mapping itself."""

    name = "memory"

    def __init__(self, cfg, fail_at=None):
        super().__init__(cfg)
        self.fail_at, self.sent = fail_at, []

    def open(self, trainer, resumed):
        self.sent.append(("open", trainer.step, resumed))

    def hyperparams(self, flat, nested):
        self.sent.append(("hparams", flat["model.name"], nested["train"]["steps"]))

    def scalars(self, step, values):
        if step == self.fail_at:
            raise ConnectionError("tracking server went away")
        self.sent += [("scalar", step, k, v) for k, v in values.items()]

    def image(self, step, path):
        self.sent.append(("image", step, path.name))

    def warning(self, step, kind, text):
        self.sent.append(("warning", step, kind, text))

    def close(self, status):
        self.sent.append(("close", status))


def test_sink_receives_records_health_lines_metrics_grids_and_config(tmp_path):
    cfg = tiny_cfg([])
    sink = Memory(cfg)
    run = train(cfg, tmp_path / "run", callbacks=[Events(), sink])
    sent = sink.sent
    assert sent[:2] == [("open", 0, False), ("hparams", "gan", 6)] and sent[-1] == ("close",
                                                                                    "finished")
    scalars = {(s, k): v for kind, s, *rest in sent if kind == "scalar" for k, v in [rest]}
    assert {s: v for (s, k), v in scalars.items() if k == "loss_d"} == stats(run, "loss_d")
    assert {s for (s, k) in scalars if k == "health/diversity"} == {3, 6}
    assert {s: v for (s, k), v in scalars.items() if k == "metrics/fid"} == {3: 97.0, 6: 94.0}
    assert not any(k in ("step", "time", "metrics/time") for _, k in scalars)
    assert [e[:3] for e in sent if e[0] == "warning"] == [("warning", 4, "d_wins")]
    assert [e for e in sent if e[0] == "image"] == [("image", 3, "fakes_000003.png"),
                                                     ("image", 6, "fakes_000006.png")]


def test_a_failing_tracker_never_stops_the_training(tmp_path, caplog):
    sink = Memory(tiny_cfg([]), fail_at=4)
    with caplog.at_level("WARNING", logger="gankit"):
        run = train(tiny_cfg([]), tmp_path / "run", callbacks=[sink])
    assert (run / "export").is_dir()
    assert sorted({s for kind, s, *_ in sink.sent if kind == "scalar"}) == [2, 3, 6]
    assert any("memory: could not log (ConnectionError: tracking server went away)" in m
               for m in caplog.messages)
    assert sink.sent[-1] == ("close", "finished")


# --------------------------------------------------------------------------- TensorBoard

def read_tensorboard(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0,
                                                        "tensors": 0})
    acc.Reload()
    return acc


@needs("tensorboard")
def test_tensorboard_records(tmp_path):
    from tensorboard.plugins.hparams import plugin_data_pb2

    run = train(tiny_cfg(["tensorboard"]), tmp_path / "run", callbacks=[Events()])
    acc = read_tensorboard(run / "tensorboard")
    scalars = acc.Tags()["scalars"]
    for tag in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm/D", "grad_norm/G",
                "img_per_s", "images_seen"):
        assert tag in scalars, tag
    want = stats(run, "loss_d")
    got = {e.step: e.value for e in acc.Scalars("loss_d")}
    assert got == pytest.approx(want) and sorted(got) == [2, 4, 6]
    # the health monitor's own stats lines (sample steps) and the evaluation lines
    assert [e.step for e in acc.Scalars("health/diversity")] == [3, 6]
    assert {e.step: e.value for e in acc.Scalars("metrics/fid")} == {3: 97.0, 6: 94.0}
    assert [(e.step, e.value) for e in acc.Scalars("health/d_wins")] == [(4, 1.0)]
    health = acc.Tensors("health/text_summary")
    assert b"lower train.lr_d" in health[0].tensor_proto.string_val[0]
    # one image per sample grid, the grid's own size
    images = acc.Images("samples")
    assert [e.step for e in images] == [3, 6]
    from PIL import Image
    with Image.open(run / "fakes_000006.png") as im:
        assert (images[-1].width, images[-1].height) == im.size
    # the config as hyperparameters (HParams plugin) and as text
    md = acc.SummaryMetadata("_hparams_/session_start_info")
    hp = plugin_data_pb2.HParamsPluginData.FromString(md.plugin_data.content)
    hparams = hp.session_start_info.hparams
    assert hparams["model.name"].string_value == "gan"
    assert hparams["train.steps"].number_value == 6
    assert hparams["model.g_hidden"].string_value == "[16]"
    assert b"batch_size: 8" in acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0]


@needs("tensorboard")
def test_tensorboard_resume_before_the_last_log_keeps_one_value_per_step(tmp_path):
    run = tmp_path / "run"
    train(tiny_cfg(["tensorboard"], steps=4, checkpoint_every=2, keep_checkpoints=0), run)
    first = stats(run, "loss_d")
    assert sorted(first) == [2, 4]
    # back to step 2: step 4 is trained again, and its earlier events must not show
    train(tiny_cfg(["tensorboard"], steps=6, checkpoint_every=2, keep_checkpoints=0), run,
          resume=run / "checkpoints" / "ckpt-000002.pt")
    acc = read_tensorboard(run / "tensorboard")
    events = acc.Scalars("loss_d")
    assert [e.step for e in events] == [2, 4, 6]
    assert {e.step: e.value for e in events} == pytest.approx(stats(run, "loss_d"))


# --------------------------------------------------------------------------- MLflow

@needs("mlflow")
def test_mlflow_records_in_a_local_store(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    # MLflow 3 keeps the file store for local use behind this switch
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    run = train(tiny_cfg(["mlflow"], mlflow_uri=uri, tracker_project="tests"),
                tmp_path / "run", callbacks=[Events()])
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tests")
    (found,) = client.search_runs([exp.experiment_id])
    assert found.info.run_name == "run" and found.info.status == "FINISHED"
    assert found.data.tags["gankit.model"] == "gan"
    assert found.data.tags["gankit.run_dir"] == str(run.resolve())
    assert json.loads((run / "trackers.json").read_text())["mlflow_run_id"] == found.info.run_id
    params = found.data.params
    assert params["model.name"] == "gan" and params["train.steps"] == "6"
    assert params["train.loggers"] == '["mlflow"]'
    history = {m.step: m.value for m in client.get_metric_history(found.info.run_id, "loss_d")}
    assert history == pytest.approx(stats(run, "loss_d"))
    assert sorted(history) == [2, 4, 6]
    for key in ("grad_norm/D", "d_real", "img_per_s", "health/diversity"):
        assert client.get_metric_history(found.info.run_id, key), key
    fid = client.get_metric_history(found.info.run_id, "metrics/fid")
    assert {m.step: m.value for m in fid} == {3: 97.0, 6: 94.0}
    assert [m.step for m in client.get_metric_history(found.info.run_id, "health/d_wins")] == [4]
    arts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"samples", "config.yaml", "health.txt"} <= arts
    grids = {a.path for a in client.list_artifacts(found.info.run_id, "samples")}
    assert grids == {"samples/fakes_000003.png", "samples/fakes_000006.png"}


@needs("mlflow")
def test_a_tracker_that_cannot_start_stops_the_run_before_training(tmp_path):
    from gankit.errors import TrainingError

    with pytest.raises(TrainingError, match="MLflow could not open a run in bogus://nowhere: "
                                            ".*; set train.mlflow_uri"):
        train(tiny_cfg(["mlflow"], mlflow_uri="bogus://nowhere"), tmp_path / "run")
    assert not list((tmp_path / "run" / "checkpoints").iterdir())


@needs("mlflow")
def test_mlflow_resume_continues_the_same_run(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    from states import Crash

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    cfg = tiny_cfg(["mlflow"], mlflow_uri=uri)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", callbacks=[Crash(3)])
    client = MlflowClient(uri)
    (cut,) = client.search_runs([client.get_experiment_by_name("gankit").experiment_id])
    assert cut.info.status == "FAILED"  # interrupted: the sink closed its run
    train(cfg, tmp_path / "run", resume="auto")
    (done,) = client.search_runs([client.get_experiment_by_name("gankit").experiment_id])
    assert done.info.run_id == cut.info.run_id and done.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(done.info.run_id, "loss_d")]
    assert sorted(steps) == [2, 4, 6]


# --------------------------------------------------------------------------- W&B (offline)

def read_wandb_log(path: Path) -> list:
    """The records of an offline run's .wandb file: W&B's LevelDB-style log (a 7-byte file
    header, 32 KiB blocks of chunks with a 7-byte header each) of wandb's protobuf Records."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = path.read_bytes()
    ident, _magic, _version = struct.unpack("<4sHB", data[:7])
    assert ident == b":W&B"
    block, pos, chunk, out = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        pos += 7
        if kind == 0:
            break
        chunk += data[pos:pos + length]
        pos += length
        if kind in (1, 4):  # a full record, or the last piece of one
            rec = pb.Record()
            rec.ParseFromString(chunk)
            out.append(rec)
            chunk = b""
    return out


@needs("wandb")
def test_wandb_offline_run_records(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_DIR", raising=False)
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    run = train(tiny_cfg(["wandb"]), tmp_path / "run", callbacks=[Events()])
    (folder,) = glob.glob(str(run / "wandb" / "offline-run-*"))
    (log_file,) = Path(folder).glob("run-*.wandb")
    records = read_wandb_log(log_file)
    kinds = [r.WhichOneof("record_type") for r in records]
    (meta,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert meta.project == "gankit" and meta.display_name == "run"
    assert meta.run_id == json.loads((run / "trackers.json").read_text())["wandb_id"]
    config = {i.key: json.loads(i.value_json) for r in records
              if r.WhichOneof("record_type") in ("run", "config")
              for i in (r.run.config.update if r.WhichOneof("record_type") == "run"
                        else r.config.update)}
    assert config["model"]["name"] == "gan" and config["train"]["steps"] == 6
    rows = [{".".join(i.nested_key) or i.key: json.loads(i.value_json) for i in r.history.item}
            for r in records if r.WhichOneof("record_type") == "history"]
    loss = {row["step"]: row["loss_d"] for row in rows if "loss_d" in row}
    assert loss == pytest.approx(stats(run, "loss_d")) and sorted(loss) == [2, 4, 6]
    assert any("grad_norm/D" in row and "img_per_s" in row for row in rows)
    assert {row["step"]: row["metrics/fid"] for row in rows if "metrics/fid" in row} == \
        {3: 97.0, 6: 94.0}
    assert [row["step"] for row in rows if "health/d_wins" in row] == [4]
    assert [row["step"] for row in rows if "health/diversity" in row] == [3, 6]
    images = [(row["step"], row["samples.path"]) for row in rows if "samples.path" in row]
    assert [s for s, _ in images] == [3, 6]
    for _, rel in images:  # the grids themselves are in the run's files
        assert (Path(folder) / "files" / rel).stat().st_size > 0
    exits = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
    assert exits == [0] and kinds.index("exit") > kinds.index("history")


@needs("wandb")
def test_wandb_resume_continues_the_same_run(tmp_path, monkeypatch):
    from states import Crash

    for k, v in {"WANDB_MODE": "offline", "WANDB_SILENT": "true",
                 "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
                 "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache")}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("WANDB_DIR", raising=False)
    cfg = tiny_cfg(["wandb"])
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", callbacks=[Crash(3)])
    train(cfg, tmp_path / "run", resume="auto")
    parts = []
    for folder in sorted((tmp_path / "run" / "wandb").glob("offline-run-*")):
        records = read_wandb_log(next(folder.glob("run-*.wandb")))
        (meta,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
        steps = {json.loads(i.value_json) for r in records
                 if r.WhichOneof("record_type") == "history"
                 for i in r.history.item if list(i.nested_key) == ["step"]}
        exits = [r.exit.exit_code for r in records if r.WhichOneof("record_type") == "exit"]
        parts.append((meta.run_id, sorted(steps), exits))
    run_id = json.loads((tmp_path / "run" / "trackers.json").read_text())["wandb_id"]
    # the interrupted part ends as failed; the resumed part logs under the same run id
    assert parts == [(run_id, [2, 3], [1]), (run_id, [4, 6], [0])]
