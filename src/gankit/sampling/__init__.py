"""Using trained generators: load a run, checkpoint or export, and generate from seeds.

The latent tools are pure functions of a loaded :class:`Generator` returning image tensors
(N x C x H x W float in [-1, 1]), for the CLI and the studio alike:
``interpolate`` / ``interpolate_at``, ``class_grid``, ``truncation_grid``, ``mixing_grid``,
``walk`` / ``walk_latents`` (edit along a direction), ``project`` (image -> latent); see
:mod:`gankit.sampling.editing` for finding directions and :mod:`gankit.sampling.gif`.
"""
from __future__ import annotations

from gankit.sampling.editing import walk, walk_latents
from gankit.sampling.grids import class_grid, mixing_grid, truncation_grid
from gankit.sampling.interpolate import interpolate, interpolate_at
from gankit.sampling.loading import Generator, load_generator
from gankit.sampling.projection import project

__all__ = ["Generator", "load_generator", "interpolate", "interpolate_at", "class_grid",
           "truncation_grid", "mixing_grid", "walk", "walk_latents", "project"]
