"""The CUDA code paths: fp16 with a gradient scaler, bf16 autocast, the deferred non-finite
check, exact resume and data on the device. Skipped without a GPU; `benchmarks/gpu/check.sh`
runs them (`pytest -m cuda`) whenever one is lent."""
import json

import pytest
import torch

from gankit.config import config_from_dict
from gankit.errors import TrainingError
from gankit.train.trainer import Trainer, train
from states import Crash, assert_states_equal, latest

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


def _cfg(model="gan", steps=8, **train_cfg):
    net = {"gan": {"name": "gan", "g_hidden": [64], "d_hidden": [64], "z_dim": 8},
           "dcgan": {"name": "dcgan", "ngf": 8, "ndf": 8, "z_dim": 16}}[model]
    return config_from_dict({
        "model": net,
        "data": {"dataset": "synthetic:128", "resolution": 32 if model == "dcgan" else 16},
        "train": {"steps": steps, "batch_size": 16, "log_every": 2, "sample_every": 4,
                  "checkpoint_every": 4, "progress": False, "grid_size": 4, "device": "cuda",
                  **train_cfg}})


def _losses(run):
    recs = [json.loads(x) for x in (run / "stats.jsonl").read_text().splitlines()]
    return [r[k] for r in recs for k in ("loss_d", "loss_g") if k in r]


@pytest.mark.parametrize("amp", ["fp16", "bf16", "off"])
def test_trains_on_cuda_with_each_precision(tmp_path, amp):
    run = train(_cfg("dcgan", amp=amp), tmp_path / amp)
    losses = _losses(run)
    assert losses and all(torch.isfinite(torch.tensor(v)) for v in losses)
    state = latest(run)
    assert (state["scaler"] is not None) == (amp == "fp16")
    assert all(v.device.type == "cpu" for v in state["nets"]["G"].values())  # portable


def test_data_and_nets_live_on_the_device(tmp_path):
    tr = Trainer(_cfg(), tmp_path / "run")
    batch = next(tr.loader)
    assert batch["real"].is_cuda and next(tr.model.parameters()).is_cuda
    assert not tr.sync_checks  # the deferred check, no host sync per step


def test_exact_resume_on_cuda(tmp_path):
    cfg = _cfg(ema_decay=0.9, d_steps=2, amp="off")
    train(cfg, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "cut", callbacks=[Crash(4)])
    train(cfg, tmp_path / "cut", resume="auto")
    assert_states_equal(latest(tmp_path / "full"), latest(tmp_path / "cut"))


def test_deferred_nan_check_names_the_step_on_cuda(tmp_path):
    tr = Trainer(_cfg(), tmp_path / "run")
    orig = tr.model.loss

    def loss(ph, batch, nets):
        value, logs = orig(ph, batch, nets)
        return (value * float("nan") if tr.step == 5 and ph == "D" else value), logs

    tr.model.loss = loss
    with pytest.raises(TrainingError, match=r"at step 5 in phase D"):
        tr.run()
    assert latest(tmp_path / "run")["step"] == 4
