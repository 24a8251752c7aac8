"""gankit: train, evaluate and use generative adversarial networks with PyTorch.

Importing gankit does nothing but define names; heavy modules load when used.
"""
__version__ = "0.1.0"

__all__ = ["__version__"]
