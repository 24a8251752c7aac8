import pytest
import torch
from torch import nn

from gankit.nn.translation import (PatchDiscriminator, ResnetGenerator, UNetGenerator,
                                   fit_patch_layers, receptive_field)




@pytest.mark.parametrize("res", [8, 32, 64])
@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
def test_unet_shapes_and_range(res, norm):
    g = UNetGenerator(3, 1, res, ngf=4, norm=norm)
    y = g(torch.randn(2, 3, res, res))
    assert y.shape == (2, 1, res, res)
    assert y.abs().max() <= 1.0


def test_unet_depth_reaches_1x1_and_has_dropout():
    g = UNetGenerator(3, 3, 256, ngf=2)
    downs = [m for m in g.modules() if isinstance(m, nn.Conv2d)]
    assert len(downs) == 8  # log2(256) levels: 256 -> 1
    assert sum(isinstance(m, nn.Dropout) for m in g.modules()) == 3
    with pytest.raises(ValueError, match="power-of-two"):
        UNetGenerator(3, 3, 48)


def test_unet_skips_carry_input_detail():
    # without skips, a 1-pixel change would have to pass through the 1x1 bottleneck; with
    # them the output at that pixel reacts more than far-away pixels
    torch.manual_seed(0)
    g = UNetGenerator(1, 1, 32, ngf=8, norm="none", dropout=0.0)
    x = torch.randn(1, 1, 32, 32, requires_grad=True)
    g(x)[0, 0, 5, 5].backward()
    grad = x.grad[0, 0].abs()
    assert grad[4:7, 4:7].sum() > grad[20:, 20:].sum()


def test_dropout_follows_train_and_eval():
    g = UNetGenerator(1, 1, 32, ngf=4, norm="instance")
    x = torch.randn(1, 1, 32, 32)
    g.eval()
    torch.testing.assert_close(g(x), g(x))
    g.train()
    assert not torch.equal(g(x), g(x))


def test_resnet_generator():
    g = ResnetGenerator(3, 3, ngf=4, n_blocks=2)
    assert any(isinstance(m, nn.ReflectionPad2d) for m in g.modules())
    assert any(isinstance(m, nn.InstanceNorm2d) for m in g.modules())
    y = g(torch.randn(2, 3, 36, 28))
    assert y.shape == (2, 3, 36, 28) and y.abs().max() <= 1
    with pytest.raises(ValueError, match="divisible by 4"):
        g(torch.randn(1, 3, 30, 30))
    g9 = ResnetGenerator(3, 3, ngf=2, n_blocks=9)
    assert sum(type(m).__name__ == "ResnetBlock" for m in g9.modules()) == 9


def test_patchgan_receptive_field_is_70():
    assert receptive_field(3) == 70
    d = PatchDiscriminator(6, ndf=4, n_layers=3, norm="none")
    x = torch.randn(1, 6, 128, 128, requires_grad=True)
    out = d(x)
    assert out.shape == (1, 1, 14, 14)
    out[0, 0, 7, 7].backward()
    nz = x.grad[0].abs().sum(0) > 0
    rows, cols = nz.any(1).nonzero(), nz.any(0).nonzero()
    assert int(rows.max() - rows.min() + 1) == 70 and int(cols.max() - cols.min() + 1) == 70


def test_norm_selection():
    batch = PatchDiscriminator(3, 4, norm="batch")
    assert any(isinstance(m, nn.BatchNorm2d) for m in batch.modules())
    assert not any(isinstance(m, (nn.BatchNorm2d, nn.InstanceNorm2d))
                   for m in PatchDiscriminator(3, 4, norm="none").modules())
    with pytest.raises(ValueError, match="norm"):
        PatchDiscriminator(3, 4, norm="layer")


def test_fit_patch_layers_keeps_norm_maps_at_least_2x2():
    assert fit_patch_layers(256, 3) == 3 and fit_patch_layers(32, 3) == 3
    assert fit_patch_layers(16, 3) == 2 and fit_patch_layers(8, 3) == 1
    for res in (8, 16, 24):
        n = fit_patch_layers(res, 3)
        d = PatchDiscriminator(3, 4, n, norm="instance")
        assert d(torch.randn(2, 3, res, res)).shape[-1] >= 1
