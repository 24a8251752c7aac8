"""Every latent tool on a class-conditional model keeps the class fixed and passes labels."""
import pytest
import torch

from gankit.errors import GankitError
from gankit.sampling import editing as ed
from gankit.sampling import interpolate, walk
from gankit.sampling._common import generate_z


def test_tools_pass_labels(make_toy):
    gen = make_toy(("sample", "conditional"), classes=3)
    frames = interpolate(gen, [4, 7], 3, class_id=2)
    last = generate_z(gen, gen.latents([7]), torch.tensor([2]))[0]
    assert torch.allclose(frames[-1], last, atol=1e-5)
    first = interpolate(gen, [4, 7], 3)  # default: the class of the first seed (4 % 3)
    start = generate_z(gen, gen.latents([4]), torch.tensor([1]))[0]
    assert torch.allclose(first[0], start, atol=1e-5)
    z, s = ed.sample_and_score(gen, list(range(60)), ed.brightness)
    d = ed.direction_from_labels(z, s)
    images, ncol = walk(gen, [0, 1], d, [0.0, 2.0], class_id=1)
    want = generate_z(gen, gen.latents([0]), torch.tensor([1]))[0]
    assert torch.allclose(images[0], want, atol=1e-5)
    edited = ed.gradient_edit(gen, ed.brightness, z[:4], steps=2,
                              labels=torch.tensor([0, 1, 2, 0]))
    assert edited.shape == (4, 6)
    with pytest.raises(GankitError, match="class-conditional"):
        generate_z(gen, z[:2])
    with pytest.raises(GankitError, match="out of range"):
        interpolate(gen, [0, 1], 3, class_id=3)
