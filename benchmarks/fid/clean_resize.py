"""gankit's ``--resize clean`` against clean-fid's own resizer, on real CIFAR-10 images.

    GANKIT_DATA=/work/shared/data PYTHONPATH=src /work/envs/pytorch-fid/bin/python \
        benchmarks/fid/clean_resize.py        # needs `pip install clean-fid` in that env

clean-fid's "clean" mode resizes with ``make_resizer("PIL", False, "bicubic", (299, 299))``;
gankit maps the result to [-1, 1] as x / 255 * 2 - 1 (the FID Inception's input range), so
the comparison undoes that mapping.
"""
import os
from pathlib import Path

import numpy as np
import torch
from cleanfid.resize import make_resizer

from gankit.metrics.features import resize_clean

data = Path(os.environ.get("GANKIT_DATA", "/work/shared/data"))
x = np.load(data / "cifar10_subset" / "cifar10_subset.npz")["x_test"][:32]  # NHWC uint8
ref = np.stack([make_resizer("PIL", False, "bicubic", (299, 299))(im) for im in x])
ours = resize_clean(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), 299)
ours = ((ours + 1) / 2 * 255).permute(0, 2, 3, 1).numpy()
print(f"{len(x)} images 32x32 -> 299x299; max abs difference on the 0..255 scale: "
      f"{np.abs(ours - ref).max():.3g} (float32 rounding of the [-1, 1] mapping)")
