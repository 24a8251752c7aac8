"""Sampling for style-based generators: truncation, style mixing and noise options.

A model mixes this in when its generator ``G`` takes ``G(z, psi=, cutoff=, mix_z=, mix_mask=,
noise_mode=)`` and it has ``num_ws`` style inputs (and ``layer_res``, the noise images' sizes); it then gets the ``truncate`` and ``mix``
capability contract the sampling tools and the studio use:
``generate(z, psi=, truncation_cutoff=, mix_z= | mix_seeds=, mix_layers=(start, stop), noise=)``
and ``mix_grid(row_z, col_z, mix_layers)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gankit.config import ModelConfig, opt
from gankit.errors import ConfigError
from gankit.nn.progressive import to_external

NOISE_MODES = ("const", "random", "off")


@dataclass
class StyleConfig(ModelConfig):
    """The options StyleGAN and StyleGAN2 share: latents, mapping network, widths, style
    mixing, the tracked mean of w, D's minibatch stddev and the papers' Adam betas."""

    z_dim: int = opt(128, "latent size of z (the paper uses 512)", min=1)
    w_dim: int = opt(128, "size of the intermediate latent w (the paper uses 512)", min=1)
    mapping_layers: int = opt(8, "fully connected layers of the mapping network z -> w "
                                 "(8 in the papers, 2 in ADA's small-data configs)", min=1)
    mapping_lr_mul: float = opt(0.01, "learning-rate multiplier of the mapping network",
                                min=0.0)
    fmap_base: int = opt(4096, "feature maps at resolution r are min(fmap_max, fmap_base / r)",
                         min=1)
    fmap_max: int = opt(128, "most feature maps of any layer (the paper uses 512)", min=1)
    style_mixing_prob: float = opt(0.9, "probability that a training image mixes two w's at "
                                        "a random crossover layer", min=0.0, max=1.0)
    w_avg_beta: float = opt(0.995, "decay of the tracked mean of w used for truncation",
                            min=0.0, max=1.0)
    noise_lr_mul: float = opt(1.0, "learning-rate multiplier of the per-pixel noise strengths "
                                   "(zero at init, so they learn this many times as fast; "
                                   "0 = no noise)", min=0.0)
    mbstd_group: int = opt(4, "minibatch standard deviation group size in D", min=1)
    adam_betas: list[float] = opt([0.0, 0.99], "Adam (beta1, beta2) of G and D as in the "
                                               "paper; [] = use train.beta1/train.beta2")


class StyleSampling:
    num_ws: int

    def _training_inputs(self, n: int) -> dict[str, Any]:
        """G's keyword inputs for ``n`` training images from the model's seeded noise: latents
        ``z``, a second latent ``mix_z`` and per-image style-mixing masks (with probability
        ``cfg.style_mixing_prob`` the styles from a random crossover layer on come from
        ``mix_z``), and one noise image per entry of ``layer_res``."""
        z, z2 = self.noise.randn(n, self.cfg.z_dim), self.noise.randn(n, self.cfg.z_dim)
        u, v = self.noise.rand(n), self.noise.rand(n)
        cut = 1 + (v * (self.num_ws - 1)).long().clamp(max=self.num_ws - 2)  # 1..num_ws-1
        cut = torch.where(u < self.cfg.style_mixing_prob, cut, torch.full_like(cut,
                                                                               self.num_ws))
        mask = torch.arange(self.num_ws, device=cut.device).view(1, -1) >= cut.view(-1, 1)
        noises = [self.noise.randn(n, 1, r, r) for r in self.layer_res]
        return {"z": z, "mix_z": z2, "mix_mask": mask, "noises": noises}

    def _mix_mask(self, z: torch.Tensor, mix_z: torch.Tensor | None, mix_seeds: Any,
                  mix_layers) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if mix_seeds is not None:
            if mix_z is not None:
                raise ConfigError("give mix_z or mix_seeds, not both")
            seeds = [int(s) for s in (mix_seeds if isinstance(mix_seeds, (list, tuple))
                                      else [mix_seeds])]
            if len(seeds) == 1:
                seeds = seeds * z.shape[0]
            if len(seeds) != z.shape[0]:
                raise ConfigError(f"mix_seeds must be one seed or one per image "
                                  f"({z.shape[0]}), got {len(seeds)}")
            mix_z = self.make_latents(seeds).to(z.device, z.dtype)
        if mix_z is None:
            return None, None
        if mix_z.shape != z.shape:
            raise ConfigError(f"mix_z must have the shape of z {tuple(z.shape)}, got "
                              f"{tuple(mix_z.shape)}")
        start, stop = (self.num_ws // 2, self.num_ws) if mix_layers is None else mix_layers
        if not 0 <= start < stop <= self.num_ws:
            raise ConfigError(f"mix_layers must be (start, stop) with 0 <= start < stop <= "
                              f"{self.num_ws}, got {mix_layers}")
        idx = torch.arange(self.num_ws)
        return mix_z, (idx >= start) & (idx < stop)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                 G: nn.Module | None = None, *, psi: float = 1.0,
                 truncation_cutoff: int | None = None, mix_z: torch.Tensor | None = None,
                 mix_layers: tuple[int, int] | None = None, mix_seeds: Any = None,
                 noise: str | bool = "const", **options: Any) -> torch.Tensor:
        """Images (N, C, R, R) in [-1, 1] for latents ``z`` (N, z_dim).

        ``psi``: truncation towards the tracked mean w (0: the mean image for every z; 1: off)
        on the first ``truncation_cutoff`` style inputs (None: all). ``mix_z`` (N, z_dim) or
        ``mix_seeds`` (one seed or one per image) with ``mix_layers=(start, stop)``: those
        style inputs come from the second latent (low indices: coarse layers; default the
        fine half). ``noise``: const (fixed noise images: a seed always gives the same image),
        random or off (True = const, False = off).
        """
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise ConfigError(f"{self.cfg.name} sampling options are psi, truncation_cutoff, "
                              f"mix_z, mix_seeds, mix_layers, noise; got {', '.join(given)}")
        if noise is True or noise is False:
            noise = "const" if noise else "off"
        if noise not in NOISE_MODES:
            raise ConfigError(f"noise must be one of {', '.join(NOISE_MODES)}, got {noise!r}")
        G = self.nets["G"] if G is None else G
        mix_z, mask = self._mix_mask(z, mix_z, mix_seeds, mix_layers)
        img = G(z, psi=float(psi), cutoff=truncation_cutoff, mix_z=mix_z, mix_mask=mask,
                noise_mode=noise)
        # the output is linear (no tanh, as in the papers): clamp to the image range
        return to_external(img, self.info.resolution).clamp(-1, 1)

    def mix_grid(self, row_z: torch.Tensor, col_z: torch.Tensor,
                 mix_layers: tuple[int, int] | None = None, G: nn.Module | None = None,
                 **options: Any) -> torch.Tensor:
        """(R * C, ch, H, W), row-major: image (r, c) has ``row_z[r]``'s styles except
        ``mix_layers`` (default the fine half), taken from ``col_z[c]``."""
        r, c = row_z.shape[0], col_z.shape[0]
        return self.generate(row_z.repeat_interleave(c, dim=0), G=G, mix_z=col_z.repeat(r, 1),
                             mix_layers=mix_layers, **options)
