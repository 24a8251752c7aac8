"""Frozen target classifiers: float images in [0, 1] (N x C x H x W) -> logits (N x K).

:func:`load_target` turns a spec (a gankit net's name, a TorchScript path, ``untrained``) into
a :class:`Target`: an ``nn.Module`` in eval mode whose parameters never need gradients (the
attacks take gradients with respect to the *input* only). A TorchScript file is checked on a
probe batch, so a module of the wrong shape fails at once with a one-line error instead of
deep inside an attack.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from gankit.errors import GankitError
from gankit.utils.io import sha256_of

log = logging.getLogger(__name__)

GANKIT_NETS = ("mnist", "fashion-mnist")
LENET = "mnist-lenet"
TORCHSCRIPT_HINT = ("a TorchScript file must map float images in [0, 1], N x C x H x W, to "
                    "logits N x K: save it with torch.jit.script(model).save(PATH) or "
                    "torch.jit.trace(model, example).save(PATH)")


class Target(nn.Module):
    """A frozen classifier on [0, 1] images; ``forward(x01) -> logits`` (N x K float).

    ``name``: the spec it was loaded from; ``channels`` / ``resolution``: the input it expects
    (0 = any); ``digest``: a short sha256 of its weights file ('' when it has none).
    """

    def __init__(self, net: nn.Module, name: str, channels: int = 0, resolution: int = 0,
                 convert: str = "01", digest: str = ""):
        super().__init__()
        self.net = net
        self.name, self.channels, self.resolution = name, channels, resolution
        self.convert = convert  # "01": the net takes [0, 1]; "pm1": gankit nets take [-1, 1]
        self.digest = digest
        self.net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> Target:
        # a target is frozen: batch-norm statistics and dropout stay in inference mode
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.convert == "pm1":
            x = x * 2 - 1
        out = self.net(x)
        if isinstance(out, (tuple, list)) and out:  # gankit's nets return (features, logits)
            out = out[-1]
        if not isinstance(out, torch.Tensor):
            raise GankitError(f"target {self.name!r} returned a {type(out).__name__}, not a "
                              f"tensor of logits; {TORCHSCRIPT_HINT}")
        return out.float()

    def check_input(self, x: torch.Tensor, where: str = "the input") -> None:
        """Raise a GankitError when images of ``x``'s shape cannot go into this target."""
        c, h, w = x.shape[1:]
        if self.channels and c != self.channels:
            raise GankitError(f"target {self.name!r} takes {self.channels}-channel images, "
                              f"{where} has {c}")
        if self.resolution and (h, w) != (self.resolution, self.resolution):
            raise GankitError(f"target {self.name!r} takes {self.resolution} x "
                              f"{self.resolution} images, {where} is {h} x {w}")

    def describe(self) -> str:
        return self.name + (f" (sha256 {self.digest})" if self.digest else "")


class LeNet(nn.Module):
    """LeNet-style MNIST classifier (conv5 20, pool, conv5 50, pool, fc 500, fc 10), no batch
    norm: another architecture than gankit's feature net, trained with another seed, so that
    attacks made against one and tried on the other measure black-box *transfer*.
    ``forward`` takes [-1, 1] images and returns (features, logits) like the feature net."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(20, 50, 5), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Flatten(), nn.Linear(50 * 4 * 4, 500), nn.ReLU())
        self.head = nn.Linear(500, num_classes)

    def forward(self, x):
        f = self.body(x)
        return f, self.head(f)


class _Untrained(nn.Module):
    """Small random CNN for smoke runs: any C x H x W in, 10 logits out."""

    def __init__(self, channels: int, seed: int):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.body = nn.Sequential(nn.Conv2d(channels, 8, 3, padding=1), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(128, 10))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)

    def forward(self, x):
        return self.body(x)


def _digest(path: Path) -> str:
    return sha256_of(path)[:12]


def lenet_weights_path() -> Path:
    from gankit.metrics.weights import cache_dir

    return cache_dir() / "weights" / f"{LENET}-classifier.safetensors"


def train_lenet(out: str | Path | None = None, epochs: int = 2, seed: int = 1,
                progress: bool = True, root: str = "") -> tuple[Path, dict]:
    """Train the ``mnist-lenet`` transfer classifier on MNIST train, test it, save it
    (safetensors, next to gankit's feature net in the cache by default)."""
    from gankit.config import DataConfig
    from gankit.data import load_dataset
    from gankit.metrics.mnist_net import save_classifier, train_classifier

    sets = []
    for split in ("train", "test"):
        ds = load_dataset(DataConfig(dataset="mnist", split=split, root=root, channels=1))
        sets += [ds.images, ds.labels]
    torch.manual_seed(seed)  # LeNet's initial weights come from this seed too
    model, meta = train_classifier(*sets, epochs=epochs, seed=seed, progress=progress,
                                   desc=LENET, model=LeNet())
    meta.update(dataset="mnist", architecture="lenet")
    return save_classifier(model, out or lenet_weights_path(), meta), meta


def _load_lenet(train_missing: bool) -> Target:
    from safetensors.torch import load_file

    path = lenet_weights_path()
    if not path.is_file():
        if not train_missing:
            raise GankitError(f"the {LENET} transfer classifier {path} does not exist; it is "
                              f"trained on first use by `gankit attack` (about a minute)")
        log.info("training the %s transfer classifier once (MNIST, 2 epochs, about a minute); "
                 "cached at %s", LENET, path)
        train_lenet(progress=False)
    net = LeNet()
    try:
        net.load_state_dict(load_file(str(path)))
    except Exception as e:  # noqa: BLE001 - any damage in the file
        raise GankitError(f"{path} is not a {LENET} weights file ({e}); delete it and it is "
                          f"trained again on next use") from None
    return Target(net, LENET, 1, 28, "pm1", _digest(path))


def _load_torchscript(path: Path, device) -> Target:
    if not path.is_file():
        raise GankitError(f"target {path} does not exist; give a TorchScript file or one of "
                          f"{', '.join(GANKIT_NETS + (LENET,))}")
    try:
        net = torch.jit.load(str(path), map_location=device)
    except Exception as e:  # noqa: BLE001 - torch raises RuntimeError/ValueError/zip errors
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise GankitError(f"{path} is not a TorchScript file ({first}); {TORCHSCRIPT_HINT}") \
            from None
    return Target(net, str(path), digest=_digest(path))


def load_target(spec: str, *, channels: int = 1, device: str | torch.device = "cpu",
                train_missing: bool = True) -> Target:
    """A frozen :class:`Target` from ``spec``: ``mnist``, ``fashion-mnist``, ``mnist-lenet``,
    ``untrained[:SEED]`` (``channels`` input channels) or a TorchScript path."""
    spec = str(spec).strip()
    if not spec:
        raise GankitError("no target classifier given: use mnist, mnist-lenet or a TorchScript "
                          "file (model.target=PATH, --target PATH)")
    if spec in GANKIT_NETS:
        from gankit.metrics.mnist_net import default_weights_path, load_classifier

        net, _ = load_classifier(None, spec)
        target = Target(net, spec, 1, 28, "pm1", _digest(default_weights_path(spec)))
    elif spec == LENET:
        target = _load_lenet(train_missing)
    elif spec == "untrained" or spec.startswith("untrained:"):
        _, _, seed = spec.partition(":")
        if seed and not seed.isdigit():
            raise GankitError(f"target {spec!r}: the seed after 'untrained:' must be a number")
        target = Target(_Untrained(channels, int(seed or 0)), spec, channels)
    else:
        return _load_torchscript(Path(spec).expanduser(), device)
    return target.to(device)


@torch.no_grad()
def probe(target: Target, channels: int, resolution: int, device="cpu") -> int:
    """Run ``target`` on two blank images of the data's shape; return its class count K.

    Raises a GankitError when it fails or does not return logits N x K (K >= 2)."""
    x = torch.full((2, channels, resolution, resolution), 0.5, device=device)
    target.check_input(x, f"the data ({channels} x {resolution} x {resolution})")
    try:
        out = target(x)
    except GankitError:
        raise
    except Exception as e:  # noqa: BLE001 - a user's module may raise anything
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise GankitError(f"target {target.name!r} fails on images 2 x {channels} x "
                          f"{resolution} x {resolution} in [0, 1] ({first}); {TORCHSCRIPT_HINT}")\
            from None
    if not isinstance(out, torch.Tensor) or out.dim() != 2 or out.shape[0] != 2 \
            or out.shape[1] < 2 or not out.is_floating_point():
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise GankitError(f"target {target.name!r} returned {got} for 2 images; it must return "
                          f"logits of shape N x K with K >= 2 classes ({TORCHSCRIPT_HINT})")
    return int(out.shape[1])
