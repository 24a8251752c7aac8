"""The contract every registered model passes, one named property per test (diffusers style).

Each test is parametrised over ``MODELS.names()``, so a failure reads as
``test_<property>[<model>]``. A model joins by registering itself; it may set
``contract_overrides`` (a tiny config) and ``contract_data`` (a tiny data set of its kind).
Every model trains through the public :class:`~gankit.train.trainer.Trainer` for two steps
(checkpoints at both), once per model and module, and the tests read that run; the
determinism and resume tests train again. Seconds per model on one CPU thread.
"""
from __future__ import annotations

import math

import pytest
import torch

from gankit.config import config_from_dict
from gankit.errors import ConfigError, GankitError
from gankit.models.base import D_OUTPUTS, Phase
from gankit.registry import MODELS
from gankit.sampling import load_generator
from gankit.runfiles.checkpoint import load_checkpoint
from gankit.train.trainer import Trainer
from states import assert_states_equal

NAMES = MODELS.names()
KNOWN_CAPABILITIES = {"sample", "conditional", "translate", "truncate", "mix", "attack",
                      "classify", "project"}


def contract_config(name: str, **train):
    cls = MODELS.get(name)
    raw = {
        "model": {"name": name, **cls.contract_overrides},
        "data": dict(getattr(cls, "contract_data", None) or
                     {"dataset": "synthetic:64", "resolution": 32, "channels": 1}),
        "train": {"steps": 2, "batch_size": 8, "log_every": 1, "sample_every": 0,
                  "checkpoint_every": 1, "keep_checkpoints": 0, "grid_size": 4,
                  "progress": False, "threads": 1, **train},
    }
    return config_from_dict(raw)


class Run:
    """A finished two-step contract run of one model, with its initial weights."""

    def __init__(self, name: str, out):
        self.name, self.out = name, out
        trainer = Trainer(contract_config(name), out, default_callbacks=False)
        self.initial = {k: [p.detach().clone() for p in v.parameters()]
                        for k, v in trainer.model.nets.items()}
        trainer.run()
        self.trainer = trainer
        self.model = trainer.model

    def checkpoint(self, step: int | None = None):
        name = "latest.pt" if step is None else f"ckpt-{step:06d}.pt"
        return self.out / "checkpoints" / name

    def records(self) -> list[dict]:
        import json

        return [json.loads(x) for x in (self.out / "stats.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    cache: dict[str, Run] = {}

    def get(name: str) -> Run:
        if name not in cache:
            cache[name] = Run(name, tmp_path_factory.mktemp(name) / "run")
        return cache[name]

    return get


def translation(model) -> bool:
    return "translate" in model.capabilities


def probe_inputs(model) -> torch.Tensor:
    info = model.info
    g = torch.Generator().manual_seed(3)
    return torch.rand(2, info.channels, info.resolution, info.resolution, generator=g) * 2 - 1


def outputs(gen, seeds=(0, 1, 2)) -> dict[str, torch.Tensor]:
    """What a loaded generator produces: samples for seeds, or translations of fixed inputs."""
    if translation(gen.model):
        out = {}
        for direction in ("AtoB", "BtoA"):
            try:
                with torch.no_grad():
                    out[direction] = gen.model.translate(probe_inputs(gen.model), direction)
            except GankitError:  # a one-way model (pix2pix) refuses BtoA with a message
                continue
        return out
    if "sample" in gen.capabilities:
        return {"samples": gen.generate(list(seeds))}
    if "attack" in gen.capabilities:  # advgan: adversarial images of fixed inputs, in [-1, 1]
        with torch.no_grad():
            return {"adversarial": gen.model.attack((probe_inputs(gen.model) + 1) / 2, gen.G)
                    * 2 - 1}
    return {}


def assert_same(a, b, where: str) -> None:
    """Equal nested state (dicts, lists, tensors, numbers), tensors bit for bit."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys differ"
        for k in a:
            assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


# ---------------------------------------------------------------------------- the properties
@pytest.mark.parametrize("name", NAMES)
def test_build(name, runs):
    model = runs(name).model
    cls = MODELS.get(name)
    assert set(model.generator_nets) <= set(model.nets)
    phases = model.phases(runs(name).trainer.cfg.train)
    assert phases and all(isinstance(p, Phase) for p in phases)
    for p in phases:
        assert set(p.nets) | set(p.keep) <= set(model.nets), f"phase {p.name} names unknown nets"
    assert len({p.name for p in phases}) == len(phases), "phase names must be unique"
    assert set(model.capabilities) <= KNOWN_CAPABILITIES
    assert cls.d_output_of(model.cfg) in (*D_OUTPUTS, None)


@pytest.mark.parametrize("name", NAMES)
def test_one_step_per_phase(name, runs):
    run = runs(name)
    first = run.records()[0]  # step 1: every phase runs on step 0, intervals included
    assert first["step"] == 1
    for phase in run.trainer.phases:
        name = run.trainer.log_names[phase.name]
        for key in (f"loss_{name.lower()}", f"grad_norm/{name}"):
            assert key in first, f"{key} not logged"
    for key, value in first.items():
        if isinstance(value, float):
            assert math.isfinite(value), f"{key} is not finite"
    trained = {n for ph in run.trainer.phases for n in ph.nets}
    for net in trained:
        now = list(run.model.nets[net].parameters())
        assert any(not torch.equal(a, b) for a, b in zip(now, run.initial[net])), \
            f"the parameters of {net} did not change"


@pytest.mark.parametrize("name", NAMES)
def test_adversarial_models_log_loss_d_and_loss_g(name, runs):
    if not {"D", "G"} <= set(runs(name).trainer.optimizers):
        pytest.skip("no D and G optimizers")
    assert {"loss_d", "loss_g"} <= set(runs(name).records()[-1])


@pytest.mark.parametrize("name", NAMES)
def test_determinism(name, runs, tmp_path):
    again = Trainer(contract_config(name), tmp_path / "again", default_callbacks=False)
    again.run()
    a, b = load_checkpoint(runs(name).checkpoint()), load_checkpoint(again.out / "checkpoints"
                                                                      / "latest.pt")
    assert_states_equal(a, b)
    assert_same(a["model_extra"], b["model_extra"], "model_extra")


@pytest.mark.parametrize("name", NAMES)
def test_exact_resume(name, runs, tmp_path):
    run = runs(name)
    resumed = Trainer(contract_config(name), tmp_path / "resumed", resume=run.checkpoint(1),
                      default_callbacks=False)
    assert resumed.step == 1
    resumed.run()
    a = load_checkpoint(run.checkpoint())
    b = load_checkpoint(resumed.out / "checkpoints" / "latest.pt")
    assert_states_equal(a, b)
    assert_same(a["model_extra"], b["model_extra"], "model_extra")
    assert a["optimizer_groups"] == b["optimizer_groups"]


@pytest.mark.parametrize("name", NAMES)
def test_save_load_round_trip(name, runs):
    """The checkpoint rebuilds the run's generator nets (EMA copies when kept) exactly."""
    run = runs(name)
    loaded = load_generator(run.checkpoint(), "cpu")
    live = run.trainer.generator_nets()
    assert set(loaded.gens) == set(live)
    for net, module in live.items():
        a, b = module.state_dict(), loaded.gens[net].state_dict()
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k].cpu(), b[k]), f"{net}.{k} differs after loading"


@pytest.mark.parametrize("name", NAMES)
def test_export_equals_checkpoint(name, runs):
    """Every generator net, and what it produces (samples or translations), is the same from
    the export folder as from the checkpoint."""
    run = runs(name)
    from_ckpt = load_generator(run.checkpoint(), "cpu")
    from_export = load_generator(run.out / "export", "cpu")
    assert set(from_ckpt.gens) == set(from_export.gens) == set(run.model.generator_nets)
    for net in from_ckpt.gens:
        a, b = from_ckpt.gens[net].state_dict(), from_export.gens[net].state_dict()
        assert a.keys() == b.keys()
        for k in a:
            torch.testing.assert_close(a[k], b[k], msg=f"{net}.{k}")
    a, b = outputs(from_ckpt), outputs(from_export)
    assert a.keys() == b.keys()
    if {"sample", "attack"} & run.model.capabilities or translation(run.model):
        assert a, "a sampling, translating or attacking model produced nothing"
    for k in a:
        torch.testing.assert_close(a[k], b[k], msg=k)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output(name, runs):
    gen = load_generator(runs(name).out / "export", "cpu")
    a, b = outputs(gen), outputs(gen)
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.mark.parametrize("name", NAMES)
def test_option_rejection(name, runs):
    """Unknown config keys and generation options are errors with a message, never ignored;
    a model without a latent space refuses to sample with a message, not a crash."""
    cls = MODELS.get(name)
    with pytest.raises(ConfigError, match="not_a_key"):
        config_from_dict({"model": {"name": name, "not_a_key": 1}})
    gen = load_generator(runs(name).out / "export", "cpu")
    if "sample" in gen.capabilities:
        with pytest.raises(GankitError, match="not_an_option"):
            gen.generate([0, 1], not_an_option=1)
    else:
        with pytest.raises(GankitError):
            gen.generate([0, 1])
    assert cls is type(gen.model)


@pytest.mark.parametrize("name", NAMES)
def test_output_range(name, runs):
    model = runs(name).model
    gen = load_generator(runs(name).out / "export", "cpu")
    out = outputs(gen)
    info = model.info
    for key, x in out.items():
        assert torch.isfinite(x).all(), key
        if info.kind == "points":
            assert x.shape == (3, info.dim)
            continue
        n = 3 if key == "samples" else 2
        assert x.shape == (n, info.channels, info.resolution, info.resolution), key
        assert x.min() >= -1 and x.max() <= 1, f"{key} leaves [-1, 1]"
