"""torch.hub entry points for gankit generators.

    import torch
    G = torch.hub.load("path/to/gankit", "generator", path="runs/a/export", source="local")
    images = G.generate(seeds=[0, 1, 2])      # N x C x H x W float in [-1, 1]

``path`` is an export folder (``gankit export RUN``), a run folder or a checkpoint file. gankit
is imported from this checkout's ``src/`` when it is not installed.
"""
import os
import sys

# torch.hub checks that these import before calling an entry point
dependencies = ["torch", "numpy", "PIL", "yaml", "safetensors"]


def _gankit():
    try:
        import gankit
    except ImportError:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))
        import gankit
    return gankit


def generator(path, device=None):
    """A trained gankit generator (``gankit.Generator``): ``.generate(seeds, ...)`` -> images.

    path: export folder, run folder or checkpoint file; device: "auto" (default), "cpu", "cuda".
    """
    return _gankit().load(path, device)
