"""Using trained generators: load a run, checkpoint or export, and generate from seeds."""
from __future__ import annotations

from gankit.sampling.loading import Generator, load_generator

__all__ = ["Generator", "load_generator"]
