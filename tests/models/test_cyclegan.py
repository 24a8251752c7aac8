import pytest
import torch
import torch.nn.functional as F

from gankit.config import TrainConfig
from gankit.data.base import DataInfo, NoiseSource
from gankit.data.paired import synthetic_unpaired
from gankit.errors import GankitError
from gankit.models.cyclegan import CycleGAN, ImagePool



def make(**kw):
    cfg = CycleGAN.Config(**{"ngf": 4, "ndf": 4, "n_blocks": 1, **kw})
    return CycleGAN(cfg, DataInfo("unpaired", 3, 16))


def batch(seed=0):
    ds = synthetic_unpaired(4, 3, 3, 16, seed=seed)
    return next(ds.loader(2, seed=seed))


def test_nets_and_phases():
    m = make()
    assert set(m.nets) == {"G_AB", "G_BA", "D_A", "D_B"}
    assert m.generator_nets == ("G_AB", "G_BA")
    ph = m.phases(TrainConfig())
    assert [(p.name, p.nets) for p in ph] == [("G", ("G_AB", "G_BA")), ("D", ("D_A", "D_B"))]
    assert "translate" in m.capabilities


def test_generator_loss_matches_the_paper():
    torch.manual_seed(0)
    m = make(lambda_cycle=10.0, lambda_identity=0.5)
    b = batch()
    loss, logs = m.loss("G", b, m.nets)
    a, bb = b["A"], b["B"]
    G, Fn, DA, DB = (m.nets[k] for k in ("G_AB", "G_BA", "D_A", "D_B"))
    fb, fa = G(a), Fn(bb)
    lsg = lambda x: F.mse_loss(x, torch.ones_like(x))  # noqa: E731
    expect = (lsg(DB(fb)) + lsg(DA(fa))
              + 10 * ((Fn(fb) - a).abs().mean() + (G(fa) - bb).abs().mean())
              + 0.5 * 10 * ((G(bb) - bb).abs().mean() + (Fn(a) - a).abs().mean()))
    torch.testing.assert_close(loss, expect)
    off, logs_off = make(lambda_identity=0.0).loss("G", b, m.nets)
    assert "idt_a" not in logs_off


def test_discriminator_loss_least_squares_with_pool():
    torch.manual_seed(0)
    m = make(pool_size=0)  # no history: D sees this step's fakes
    b = batch()
    m.loss("G", b, m.nets)
    _, fa, fb = m._fakes
    loss, logs = m.loss("D", b, m.nets)
    DA, DB = m.nets["D_A"], m.nets["D_B"]
    ls = lambda x, t: F.mse_loss(x, torch.full_like(x, t))  # noqa: E731
    expect = (0.5 * (ls(DA(b["A"]), 1) + ls(DA(fa), 0))
              + 0.5 * (ls(DB(b["B"]), 1) + ls(DB(fb), 0)))
    torch.testing.assert_close(loss, expect)


def test_image_pool_fills_then_swaps():
    pool = ImagePool(3)
    imgs = torch.arange(5.0).view(5, 1, 1, 1)
    u = torch.tensor([[0.9, 0.0]] * 3)
    torch.testing.assert_close(pool.query(imgs[:3], u), imgs[:3])   # filling: returned as is
    assert pool.count == 3
    # coin < 0.5: swap with slot floor(0.7 * 3) = 2, return the stored image 2
    out = pool.query(imgs[3:4], torch.tensor([[0.1, 0.7]]))
    assert float(out) == 2.0 and float(pool.images[2]) == 3.0
    out = pool.query(imgs[4:5], torch.tensor([[0.6, 0.0]]))        # coin >= 0.5: new image
    assert float(out) == 4.0


def test_pool_and_noise_state_resume_exactly():
    torch.manual_seed(0)
    m = make(pool_size=4)
    m.noise = NoiseSource(5)
    for k in range(3):
        b = batch(k)
        m.loss("G", b, m.nets)
        m.loss("D", b, m.nets)
    state = {k: v for k, v in m.extra_state().items()}
    noise = m.noise.state_dict()
    m2 = make(pool_size=4)
    m2.load_state_dict(m.state_dict())
    m2.load_extra_state(state)
    m2.noise = NoiseSource(0)
    m2.noise.load_state_dict(noise)
    b = batch(9)
    for mm in (m, m2):
        mm.loss("G", b, mm.nets)
    torch.manual_seed(1)
    la, _ = m.loss("D", b, m.nets)
    lb, _ = m2.loss("D", b, m2.nets)
    torch.testing.assert_close(la, lb)
    torch.testing.assert_close(m.pool_A.images, m2.pool_A.images)


def test_translate_both_directions_and_grid():
    m = make()
    b = batch()
    m.eval()
    torch.testing.assert_close(m.translate(b["A"], "AtoB"), m.nets["G_AB"](b["A"]))
    torch.testing.assert_close(m.translate(b["B"], "BtoA"), m.nets["G_BA"](b["B"]))
    with pytest.raises(GankitError, match="AtoB or BtoA"):
        m.translate(b["A"], "sideways")
    with pytest.raises(GankitError, match="multiples of 4"):
        m.translate(b["A"][:, :, :-1, :-1], "AtoB")
    grid = m.preview(None, None, b, dict(m.nets))
    assert m.preview_nrow == 3 and grid.shape == (12, 3, 16, 16)  # 2 A rows, 2 B rows
    torch.testing.assert_close(grid[0], b["A"][0])
    torch.testing.assert_close(grid[2], m.nets["G_BA"](m.nets["G_AB"](b["A"][:1]))[0])
    torch.testing.assert_close(grid[6], b["B"][0])


def test_lr_factor_decays_linearly_after_half():
    m = make()
    assert [m.lr_factor(s, 10) for s in (0, 4, 5, 6, 9)] == pytest.approx([1, 1, 1, 0.8, 0.2])


def test_trainer_resume_is_exact_with_the_image_pool(tmp_path):
    from gankit.config import config_from_dict
    from gankit.train.callbacks import Callback
    from gankit.runfiles.checkpoint import load_checkpoint
    from gankit.train.trainer import train

    class Crash(Callback):
        def on_checkpoint(self, trainer, path):
            if trainer.step == 2:
                raise KeyboardInterrupt

    cfg = config_from_dict({
        "model": {"name": "cyclegan", "ngf": 4, "ndf": 4, "n_blocks": 1, "pool_size": 3},
        "data": {"dataset": "synthetic-unpaired:10", "resolution": 16, "channels": 3},
        "train": {"steps": 4, "batch_size": 2, "checkpoint_every": 2, "sample_every": 0,
                  "progress": False, "threads": 1, "grid_size": 4}})
    train(cfg, tmp_path / "full")
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "part", callbacks=[Crash()])
    mid = load_checkpoint(tmp_path / "part" / "checkpoints" / "latest.pt")
    assert mid["model_extra"]["pool_A"]["count"] == 3  # pool filled: swaps depend on its state
    train(cfg, tmp_path / "part", resume="auto")
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "latest.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "latest.pt")
    assert a["step"] == b["step"] == 4
    for net in a["nets"]:
        for k, v in a["nets"][net].items():
            assert torch.equal(v, b["nets"][net][k]), f"{net}.{k} differs after resume"
    assert torch.equal(a["model_extra"]["pool_B"]["images"], b["model_extra"]["pool_B"]["images"])
