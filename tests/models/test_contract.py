"""The one contract every registered model passes, on CPU, in seconds."""
import pytest
import torch

from gankit.config import config_from_dict
from gankit.errors import GankitError
from gankit.registry import MODELS
from gankit.sampling import load_generator
from gankit.train.trainer import Trainer


def contract_config(name: str, **train):
    cls = MODELS.get(name)
    raw = {
        "model": {"name": name, **cls.contract_overrides},
        "data": dict(getattr(cls, "contract_data", None) or
                     {"dataset": "synthetic:64", "resolution": 32, "channels": 1}),
        "train": {"steps": 2, "batch_size": 8, "log_every": 1, "sample_every": 0,
                  "checkpoint_every": 0, "grid_size": 4, "progress": False, "threads": 1,
                  **train},
    }
    return config_from_dict(raw)


@pytest.mark.parametrize("name", MODELS.names())
def test_model_contract(name, tmp_path):
    cfg = contract_config(name)
    trainer = Trainer(cfg, tmp_path / "run")
    model = trainer.model
    assert set(model.generator_nets) <= set(model.nets)
    before = {k: [p.detach().clone() for p in v.parameters()] for k, v in model.nets.items()}
    window = {}
    trainer._train_step(window, want_norms=True)
    # every phase ran and logged finite numbers
    for phase in trainer.phases:
        assert f"grad_norm/{phase.name}" in window
    for key, (total, count) in window.items():
        assert torch.isfinite(total).all(), f"{name}: {key} is not finite"
    # the parameters of every trained net changed
    trained = {n for ph in trainer.phases for n in ph.nets}
    for net in trained:
        after = list(model.nets[net].parameters())
        assert any(not torch.equal(a, b) for a, b in zip(after, before[net])), \
            f"{name}: parameters of {net} did not change"
    # a full (tiny) run, then the checkpoint and the export give identical samples
    trainer.run()
    seeds = [0, 1, 2]
    if model.info.kind in ("paired", "unpaired"):
        return  # translation models are checked by their own sampling tests
    if "sample" not in model.capabilities:
        # no latent space (advgan perturbs images, dann classifies): the export holds the
        # checkpoint's weights
        from_ckpt = load_generator(tmp_path / "run" / "checkpoints" / "latest.pt", "cpu")
        from_export = load_generator(tmp_path / "run" / "export", "cpu")
        for net in model.generator_nets:
            a, b = from_ckpt.gens[net].state_dict(), from_export.gens[net].state_dict()
            assert a.keys() == b.keys()
            for k in a:
                torch.testing.assert_close(a[k], b[k])
        with pytest.raises(GankitError):  # sampling is refused with a message, not a crash
            from_export.generate(seeds)
        return
    from_ckpt = load_generator(tmp_path / "run" / "checkpoints" / "latest.pt", "cpu")
    from_export = load_generator(tmp_path / "run" / "export", "cpu")
    a = from_ckpt.generate(seeds)
    b = from_export.generate(seeds)
    assert a.shape[0] == 3 and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, from_export.generate(seeds))  # same seed, same output
    with pytest.raises(GankitError, match="not_an_option"):  # never silently ignored
        from_export.generate(seeds, not_an_option=1)
    if model.info.kind == "image":
        assert a.shape[1:] == (model.info.channels, model.info.resolution, model.info.resolution)
        assert a.min() >= -1 and a.max() <= 1
