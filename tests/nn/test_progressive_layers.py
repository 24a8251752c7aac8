"""Shape and float64 gradcheck tests of the ProGAN / StyleGAN layers in gankit.nn."""
from __future__ import annotations

import math

import pytest
import torch
from torch.func import functional_call

from gankit.nn.equalized import (Downsample, EqualConv2d, EqualLinear, FromRGB, MinibatchStd,
                                 PixelNorm, ToRGB, Upsample, downsample2x, upsample2x)
from gankit.nn.style import AdaIN, MappingNetwork, NoiseInjection


def gradcheck_module(module, *inputs):
    """gradcheck w.r.t. the inputs AND every parameter, in float64."""
    module = module.double()
    names = [n for n, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for _, p in module.named_parameters()]
    inputs = [x.double().requires_grad_(True) if x.is_floating_point() else x for x in inputs]
    k = len(inputs)

    def f(*args):
        return functional_call(module, dict(zip(names, args[k:])), tuple(args[:k]))

    assert torch.autograd.gradcheck(f, (*inputs, *params), eps=1e-6, atol=1e-5)


def test_equal_linear_shape_scale_and_grad():
    torch.manual_seed(0)
    m = EqualLinear(6, 5, lr_mul=0.1, bias_init=1.0)
    assert m(torch.randn(3, 6)).shape == (3, 5)
    assert math.isclose(m.scale, math.sqrt(2) / math.sqrt(6) * 0.1)
    # effective bias is bias_init, effective weight has He std regardless of lr_mul
    assert torch.allclose(m.bias * m.lr_mul, torch.ones(5))
    gradcheck_module(EqualLinear(6, 5, lr_mul=0.1), torch.randn(3, 6))


def test_equal_linear_equalizes_output_scale():
    torch.manual_seed(0)
    for fan_in in (16, 1024):
        m = EqualLinear(fan_in, 256, gain=1.0)
        y = m(torch.randn(512, fan_in))
        assert 0.9 < y.std().item() < 1.1  # unit-variance output for unit-variance input


def test_equal_conv_shape_and_grad():
    torch.manual_seed(0)
    m = EqualConv2d(3, 4, 3)
    assert m(torch.randn(2, 3, 8, 8)).shape == (2, 4, 8, 8)
    assert EqualConv2d(3, 4, 4, padding=0)(torch.randn(2, 3, 4, 4)).shape == (2, 4, 1, 1)
    gradcheck_module(EqualConv2d(2, 3, 3), torch.randn(2, 2, 4, 4))


def test_pixel_norm():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 3, 3) * 7
    y = PixelNorm()(x)
    assert y.shape == x.shape
    assert torch.allclose(y.pow(2).mean(1), torch.ones(2, 3, 3), atol=1e-5)
    gradcheck_module(PixelNorm(), torch.randn(2, 4, 2, 2))


def test_minibatch_std_shape_value_and_grad():
    torch.manual_seed(0)
    x = torch.randn(8, 3, 4, 4)
    y = MinibatchStd(4)(x)
    assert y.shape == (8, 4, 4, 4)
    assert torch.equal(y[:, :3], x)
    # reference: group k holds samples {k, k+2, k+4, k+6}
    for k in range(2):
        grp = x[k::2]
        ref = grp.std(0, unbiased=False).mean()
        assert torch.allclose(y[k::2, 3], ref.expand(4, 4, 4), atol=1e-5)
    # identical samples in a group -> ~zero std feature; odd batch sizes work
    assert MinibatchStd(4)(torch.ones(4, 2, 2, 2))[:, 2].abs().max() < 1e-3
    assert MinibatchStd(4)(torch.randn(6, 2, 2, 2)).shape == (6, 3, 2, 2)
    gradcheck_module(MinibatchStd(4), torch.randn(4, 2, 2, 2))


def test_resampling_shapes_and_grad():
    x = torch.randn(2, 3, 4, 4)
    assert upsample2x(x).shape == (2, 3, 8, 8)
    assert downsample2x(x).shape == (2, 3, 2, 2)
    assert torch.allclose(downsample2x(upsample2x(x)), x)  # avg of 4 copies is the original
    assert torch.equal(upsample2x(x)[:, :, ::2, ::2], x)
    gradcheck_module(Upsample(), torch.randn(1, 2, 2, 2))
    gradcheck_module(Downsample(), torch.randn(1, 2, 4, 4))


def test_to_from_rgb():
    torch.manual_seed(0)
    assert ToRGB(8, 3)(torch.randn(2, 8, 4, 4)).shape == (2, 3, 4, 4)
    assert FromRGB(3, 8)(torch.randn(2, 3, 4, 4)).shape == (2, 8, 4, 4)
    gradcheck_module(ToRGB(3, 2), torch.randn(2, 3, 2, 2))
    gradcheck_module(FromRGB(2, 3), torch.randn(2, 2, 2, 2))


def test_adain_shape_init_and_grad():
    torch.manual_seed(0)
    m = AdaIN(4, 6)
    x = torch.randn(2, 4, 5, 5) * 3 + 2
    w = torch.zeros(2, 6)
    y = m(x, w)  # w = 0 -> style (1, 0): plain instance norm
    assert y.shape == x.shape
    assert torch.allclose(y.mean((2, 3)), torch.zeros(2, 4), atol=1e-5)
    assert torch.allclose(y.pow(2).mean((2, 3)), torch.ones(2, 4), atol=1e-4)
    # the style changes per-channel mean and scale
    w2 = torch.randn(2, 6)
    y2 = m(x, w2)
    style = m.affine(w2)
    assert torch.allclose(y2.mean((2, 3)), style[:, 4:], atol=1e-4)
    gradcheck_module(AdaIN(3, 4), torch.randn(2, 3, 3, 3), torch.randn(2, 4))


def test_noise_injection():
    torch.manual_seed(0)
    m = NoiseInjection(3)
    x = torch.randn(2, 3, 4, 4)
    assert torch.equal(m(x), x)  # zero scale at init
    with torch.no_grad():
        m.weight.copy_(torch.tensor([0.0, 1.0, 2.0]))
    n = torch.randn(2, 1, 4, 4)
    y = m(x, n)
    assert torch.allclose(y[:, 2] - x[:, 2], 2 * n[:, 0])
    assert m(x).shape == x.shape
    gradcheck_module(NoiseInjection(3), torch.randn(2, 3, 2, 2), torch.randn(2, 1, 2, 2))


def test_mapping_network():
    torch.manual_seed(0)
    m = MappingNetwork(5, 7, num_layers=8)
    assert m(torch.randn(4, 5)).shape == (4, 7)
    assert sum(isinstance(l, EqualLinear) for l in m.modules()) == 8
    # pixel norm on z: the scale of z does not matter
    z = torch.randn(3, 5)
    assert torch.allclose(m(z), m(z * 5), atol=1e-5)
    with pytest.raises(ValueError, match="z of shape"):
        m(torch.randn(3, 4))
    gradcheck_module(MappingNetwork(3, 4, num_layers=2), torch.randn(2, 3))
