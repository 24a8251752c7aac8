import math

import numpy as np
import pytest
import torch

from gankit.metrics.paired import gaussian_window, l1, paired_metrics, psnr, ssim


def ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Direct transcription of Wang et al. (2004), one valid window at a time (slow, clear)."""
    w = gaussian_window(11, 1.5).numpy()
    h, wd = x.shape
    vals = []
    for i in range(h - 10):
        for j in range(wd - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx = (w * (px - mx) ** 2).sum()
            vy = (w * (py - my) ** 2).sum()
            cxy = (w * (px - mx) * (py - my)).sum()
            c1, c2 = 0.01 ** 2, 0.03 ** 2
            vals.append((2 * mx * my + c1) * (2 * cxy + c2)
                        / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_matches_the_definition():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 20, 24, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(1, 1, 20, 24, generator=g)).clamp(-1, 1)
    ref = ssim_reference(((x[0, 0] + 1) / 2).double().numpy(), ((y[0, 0] + 1) / 2).double().numpy())
    assert float(ssim(x, y)[0]) == pytest.approx(ref, abs=1e-6)


def test_ssim_properties():
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(ssim(x, x), torch.ones(3))
    noisy = (x + 0.2 * torch.randn_like(x)).clamp(-1, 1)
    noisier = (x + 0.6 * torch.randn_like(x)).clamp(-1, 1)
    assert (ssim(x, noisy) > ssim(x, noisier)).all()
    assert ssim(torch.rand(1, 1, 6, 6), torch.rand(1, 1, 6, 6)).shape == (1,)  # tiny images


def test_l1_and_psnr_known_values():
    x = torch.zeros(2, 1, 8, 8)
    y = x + 0.2  # 0.1 apart on the [0, 1] scale
    torch.testing.assert_close(l1(x, y), torch.full((2,), 0.1))
    torch.testing.assert_close(psnr(x, y), torch.full((2,), 20.0))  # 10 log10(1 / 0.01)
    assert float(psnr(x, x)[0]) == 100.0
    with pytest.raises(ValueError, match="differ in shape"):
        l1(x, y[:, :, :4])


def test_paired_metrics_summary():
    x = torch.rand(5, 3, 16, 16) * 2 - 1
    m = paired_metrics(x, x, batch=2)
    assert m["images"] == 5 and m["l1"] == 0 and m["ssim"] == pytest.approx(1.0)
    assert all(math.isfinite(v) for v in m.values())
