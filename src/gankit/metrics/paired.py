"""Full-reference metrics for paired translation: L1, PSNR, SSIM (pure torch).

All take ``x`` (output) and ``y`` (target) as float N x C x H x W in [-1, 1] and return one
value per image (a tensor of N); average them for a test-set number. They are computed on the
[0, 1] scale: ``L1 = mean |x - y|`` there (half the L1 of the [-1, 1] training loss).

* PSNR = 10 log10(1 / MSE) on [0, 1] (data range 1), per image.
* SSIM (Wang et al. 2004): local means, variances and covariance under an 11 x 11 Gaussian
  window with sigma 1.5, constants C1 = (0.01)^2, C2 = (0.03)^2 (data range 1),

      SSIM(x, y) = mean over valid windows and channels of
                   (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))

  computed without padding ("valid" windows) as in the reference MATLAB code and
  scikit-image's ``gaussian_weights=True, use_sample_covariance=False`` setting. Images smaller
  than the window use a window of their own size (odd), stated in the result's docs here.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _unit(x: torch.Tensor) -> torch.Tensor:
    if x.dim() != 4:
        raise ValueError(f"expected N x C x H x W images, got {tuple(x.shape)}")
    return (x.double() + 1) / 2


def _check(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape != y.shape:
        raise ValueError(f"output and target differ in shape: {tuple(x.shape)} vs "
                         f"{tuple(y.shape)}")
    return _unit(x), _unit(y)


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image on the [0, 1] scale."""
    x, y = _check(x, y)
    return (x - y).abs().flatten(1).mean(1).float()


def psnr(x: torch.Tensor, y: torch.Tensor, max_db: float = 100.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image (data range 1); identical images -> max_db."""
    x, y = _check(x, y)
    mse = (x - y).pow(2).flatten(1).mean(1)
    out = 10 * torch.log10(1.0 / mse.clamp_min(10 ** (-max_db / 10)))
    return out.float()


def gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    ax = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-ax ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity per image (mean over channels and valid windows), data range 1."""
    x, y = _check(x, y)
    n, c, h, w = x.shape
    size = min(window, h, w)
    size -= 1 - size % 2  # keep it odd
    k = gaussian_window(size, sigma).to(x.device).expand(c, 1, size, size)

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, k, groups=c)

    mu_x, mu_y = filt(x), filt(y)
    sxx = filt(x * x) - mu_x ** 2
    syy = filt(y * y) - mu_y ** 2
    sxy = filt(x * y) - mu_x * mu_y
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    s = num / ((mu_x ** 2 + mu_y ** 2 + c1) * (sxx + syy + c2))
    return s.flatten(1).mean(1).float()


def paired_metrics(outputs: torch.Tensor, targets: torch.Tensor,
                   batch: int = 256) -> dict[str, float]:
    """Test-set means of L1, PSNR and SSIM (computed in chunks of ``batch`` images)."""
    vals: dict[str, list[torch.Tensor]] = {"l1": [], "psnr": [], "ssim": []}
    for i in range(0, outputs.shape[0], batch):
        o, t = outputs[i:i + batch], targets[i:i + batch]
        vals["l1"].append(l1(o, t))
        vals["psnr"].append(psnr(o, t))
        vals["ssim"].append(ssim(o, t))
    out = {k: float(torch.cat(v).mean()) for k, v in vals.items()}
    out["images"] = int(outputs.shape[0])
    if not all(math.isfinite(v) for v in out.values()):
        raise ValueError(f"non-finite paired metrics: {out}")
    return out
