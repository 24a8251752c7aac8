"""Feature networks for metrics and the one batched feature pass that every metric shares.

A feature net (registered in :data:`gankit.registry.FEATURE_NETS`) is built by
``FEATURE_NETS.get(name)(weights=None, resize="legacy", device="cpu")`` and maps uint8 images
(N x C x H x W, C = 1 or 3, any size) to a dict of float32 arrays:

* ``pool``: the features FID, KID and precision/recall use (2048-d for Inception);
* ``logits``: class logits, for the Inception Score and class coverage.

Images enter metrics as uint8 on purpose: generated images are quantised exactly as they would
be when saved as PNG, so "generator vs dataset" and "folder vs dataset" give the same number.

Resize modes for the Inception (to its 299 x 299 input):

* ``legacy``: what pytorch-fid does: ``x / 255`` in float32, ``F.interpolate(bilinear,
  align_corners=False)`` (no antialiasing), then ``2x - 1``;
* ``clean``: what clean-fid does (Parmar et al. 2022, "On Aliased Resizing and Surprising
  Subtleties in GAN Evaluation"): each channel resized separately by PIL's antialiased bicubic
  filter on float values (mode ``F``), clipped to [0, 255], no re-quantisation, then mapped to
  [-1, 1] as above.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from gankit.errors import GankitError
from gankit.registry import FEATURE_NETS

RESIZE_MODES = ("legacy", "clean")


def _check_uint8(images: torch.Tensor) -> torch.Tensor:
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise GankitError(f"feature nets take uint8 N x C x H x W images with C = 1 or 3, got "
                          f"{images.dtype} {tuple(images.shape)}")
    return images


def resize_legacy(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float [-1, 1] at size x size, exactly as pytorch-fid computes it."""
    x = images.float() / 255.0
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return 2 * x - 1


def resize_clean(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float [-1, 1]: PIL bicubic per channel on floats, as clean-fid."""
    from PIL import Image

    arr = images.cpu().numpy()
    out = np.empty((arr.shape[0], arr.shape[1], size, size), np.float32)
    for i in range(arr.shape[0]):
        for c in range(arr.shape[1]):
            im = Image.fromarray(arr[i, c].astype(np.float32), mode="F")
            out[i, c] = np.asarray(im.resize((size, size), resample=Image.BICUBIC))
    np.clip(out, 0, 255, out=out)
    x = torch.from_numpy(out).to(images.device) / 255.0
    return 2 * x - 1


class FeatureNet:
    """Base: ``__call__(uint8 images) -> {"pool": N x D, "logits": N x K}`` as float32 tensors."""

    name = ""
    dim = 0
    num_classes = 0
    batch_size = 50
    # a dataset classifier (MNIST, Fashion-MNIST): its metrics are reported as classifier_fid,
    # classifier_kid, ... so they are never mistaken for Inception numbers
    classifier = False

    def protocol(self) -> dict:
        """What a number computed with this net depends on (printed next to every number)."""
        raise NotImplementedError

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError


class InceptionFeatures(FeatureNet):
    """The FID Inception (pytorch-fid weights): pool = 2048-d, logits = 1008 (unbiased)."""

    name = "inception"
    dim = 2048
    num_classes = 1008
    batch_size = 50

    def __init__(self, weights: str | None = None, resize: str = "legacy", device="cpu",
                 download: bool = True):
        from gankit.metrics.inception import FIDInceptionV3, load_state
        from gankit.metrics.weights import (FID_WEIGHTS_NAME, FID_WEIGHTS_SHA256,
                                            FID_WEIGHTS_URL, find_weights)

        if resize not in RESIZE_MODES:
            raise GankitError(f"unknown resize mode {resize!r}: use legacy or clean")
        self.resize = resize
        self.device = torch.device(device)
        self.weights_path = find_weights(FID_WEIGHTS_NAME, weights, FID_WEIGHTS_URL,
                                         FID_WEIGHTS_SHA256, download_ok=download)
        try:
            state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
        except Exception as e:  # truncated or foreign file
            raise GankitError(f"cannot read FID Inception weights {self.weights_path}: {e}") \
                from None
        net = load_state(FIDInceptionV3(), state).eval().fuse()
        self.net = net.to(self.device, memory_format=torch.channels_last)

    def protocol(self) -> dict:
        return {"feature_net": "inception (FID Inception-v3, TF 2015-12-05 graph, "
                               "pytorch-fid layout)",
                "weights": str(self.weights_path.name), "resize": self.resize}

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        images = _check_uint8(images)
        if images.shape[1] == 1:  # greyscale: the same value in R, G and B (PIL .convert("RGB"))
            images = images.expand(-1, 3, -1, -1)
        images = images.to(self.device)
        x = resize_legacy(images, 299) if self.resize == "legacy" else resize_clean(images, 299)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            out = self.net(x)
        return {"pool": out["pool"].float(), "logits": out["logits_unbiased"].float()}


@FEATURE_NETS.register("inception")
def build_inception(weights=None, resize="legacy", device="cpu", **kw) -> InceptionFeatures:
    return InceptionFeatures(weights, resize, device, download=kw.get("download", True))


def extract(net: FeatureNet, batches, total: int, progress: bool = True,
            desc: str = "features") -> dict[str, np.ndarray]:
    """Run ``net`` over an iterable of uint8 batches; return float32 arrays, ``total`` rows."""
    from tqdm import tqdm

    # filled in place (total rows known up front): no list of parts and no concatenated copy
    feats: dict[str, np.ndarray] = {}
    done = 0
    with tqdm(total=total, desc=desc, unit="img", disable=not progress, leave=False) as bar:
        for batch in batches:
            batch = batch[: total - done]
            if batch.shape[0] == 0:
                break
            with torch.inference_mode():
                out = net(batch)
            for k, v in out.items():
                v = v.cpu().numpy()
                if k not in feats:
                    feats[k] = np.empty((total, *v.shape[1:]), dtype=v.dtype)
                feats[k][done:done + v.shape[0]] = v
            done += batch.shape[0]
            bar.update(batch.shape[0])
            if done >= total:
                break
    if done < total:
        raise GankitError(f"the image source gave {done} images, {total} were asked for")
    return feats
