"""Discriminator regularizers: WGAN-GP gradient penalty, R1, ProGAN's drift term, and
spectral normalization.

The two gradient penalties differentiate D's output with respect to its input with
``create_graph=True``, so the D step backpropagates through a gradient (a double backward).
Models using them set ``double_backward = True`` so the trainer does not ``torch.compile`` them.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def _input_grad_norm(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """Per-example L2 norm of d(sum outputs)/d inputs, differentiable (create_graph)."""
    (grad,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grad.reshape(grad.shape[0], -1).norm(2, dim=1)


def interpolate(real: torch.Tensor, fake: torch.Tensor,
                alpha: torch.Tensor | None = None) -> torch.Tensor:
    """Points on straight lines between real and fake examples: a*real + (1-a)*fake.

    ``alpha`` (N, uniform in [0, 1]) is drawn with torch's default generator when omitted; pass
    it (e.g. from ``model.noise.rand``) for reproducible, resumable runs.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    n = real.shape[0]
    if alpha is None:
        alpha = torch.rand(n, device=real.device)
    alpha = alpha.to(device=real.device, dtype=real.dtype).reshape(n, *([1] * (real.dim() - 1)))
    return alpha * real.detach() + (1 - alpha) * fake.detach()


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor,
                     fake: torch.Tensor, alpha: torch.Tensor | None = None,
                     target: float = 1.0) -> torch.Tensor:
    r"""WGAN-GP penalty (Gulrajani et al. 2017), without the weight :math:`\lambda`:

    .. math::
        P = E_{\hat x}\big[(\lVert \nabla_{\hat x} D(\hat x) \rVert_2 - 1)^2\big],
        \qquad \hat x = \alpha x + (1 - \alpha) G(z),\ \alpha \sim U[0, 1]

    An optimal critic has unit gradient norm on the lines between coupled real and fake points,
    so the penalty enforces the 1-Lipschitz constraint softly where it matters (the paper uses
    :math:`\lambda = 10`). ``critic`` maps a batch to logits (wrap D in a lambda to pass labels).
    ``target`` is the norm aimed at (1 in the paper).
    """
    x_hat = interpolate(real, fake, alpha).requires_grad_(True)
    norms = _input_grad_norm(critic(x_hat), x_hat)
    return (norms - target).square().mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    r"""R1 penalty (Mescheder et al. 2018), without the weight :math:`\gamma / 2`:

    .. math::
        R_1 = E_{x \sim p_{data}}\big[\lVert \nabla_x D(x) \rVert_2^2\big]

    Penalising D's gradient on real data only makes the GAN game locally convergent near the
    equilibrium (where D is flat on the data). ``real`` must have had ``requires_grad_(True)``
    before ``real_logits = D(real)`` was computed, so the D loss's own forward pass is reused.
    """
    if not real.requires_grad:
        raise ValueError("r1_penalty needs real.requires_grad_(True) before computing D(real)")
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.reshape(grad.shape[0], -1).square().sum(1).mean()


def r1_from_critic(critic: Callable[[torch.Tensor], torch.Tensor],
                   real: torch.Tensor) -> torch.Tensor:
    """R1 computed with its own forward pass of ``critic`` on a grad-enabled copy of ``real``."""
    x = real.detach().requires_grad_(True)
    return r1_penalty(critic(x), x)


def drift_penalty(real_scores: torch.Tensor) -> torch.Tensor:
    r"""ProGAN's drift term (Karras et al. 2018), without its weight :math:`\epsilon`:
    :math:`E_x[D(x)^2]`, which keeps a Wasserstein critic's scores from drifting far from 0."""
    return real_scores.square().mean()


# ---------------------------------------------------------------------------- spectral norm

_SN_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Embedding)


def spectral_norm(net: nn.Module, n_power_iterations: int = 1, eps: float = 1e-12,
                  skip: Callable[[str, nn.Module], bool] | None = None) -> nn.Module:
    r"""Spectrally normalise every linear, convolution and embedding layer of ``net`` in place.

    SN-GAN (Miyato et al. 2018) divides each weight by its largest singular value
    :math:`\sigma(W)`, estimated by one power iteration per forward pass, so every layer is
    1-Lipschitz and so is D (with 1-Lipschitz activations). Uses torch's parametrization, which
    keeps the power-iteration vectors ``u``/``v`` as buffers (saved in checkpoints).
    ``skip(name, module)`` returning True leaves a layer alone. Returns ``net``.
    """
    from torch.nn.utils.parametrizations import spectral_norm as _sn
    from torch.nn.utils.parametrize import is_parametrized

    targets = [(name, m) for name, m in net.named_modules()
               if isinstance(m, _SN_LAYERS) and not (skip and skip(name, m))]
    for _, m in targets:
        if is_parametrized(m, "weight"):
            continue  # already normalised: applying twice would divide by sigma twice
        _sn(m, n_power_iterations=n_power_iterations, eps=eps)
    return net


def has_spectral_norm(net: nn.Module) -> bool:
    from torch.nn.utils.parametrize import is_parametrized

    return any(is_parametrized(m, "weight") for m in net.modules() if isinstance(m, _SN_LAYERS))


def clip_weights(net: nn.Module, c: float) -> None:
    """WGAN weight clipping: clamp every parameter of ``net`` to [-c, c] (in place)."""
    with torch.no_grad():
        for p in net.parameters():
            p.clamp_(-c, c)
