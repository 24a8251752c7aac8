"""Small classifiers that gankit trains itself (MNIST, Fashion-MNIST), used as domain feature nets.

Inception features are a poor fit for 28 x 28 greyscale digits (they are upsampled 10x and
coloured grey), so digit GANs are better compared in the feature space of a digit classifier,
as in the "classifier FID" of many GAN papers. The net:

    28x28x1 -> conv3x3 32, BN, ReLU, maxpool -> conv3x3 64, BN, ReLU, maxpool
            -> conv3x3 128, BN, ReLU, maxpool -> flatten (1152)
            -> linear 128, BN, ReLU = features (128-d) -> dropout -> linear 10

(about 7.5 M multiply-adds per image: cheap enough to train in minutes on one CPU core).

Metrics in its space: classifier FID (Fréchet distance of the 128-d features) and the class
coverage of generated samples (classes present, KL(histogram || uniform), mean confidence).

The same network trained on Fashion-MNIST (``fashion-mnist``) scores clothing GANs the same
way. Weights are a safetensors file (``<cache>/weights/{name}-classifier.safetensors`` by
default), trained and cached on first use (:func:`ensure_weights`) or ahead of time by
``gankit evaluate train-feature-net mnist`` (or ``fashion-mnist``).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError
from gankit.metrics.features import FeatureNet
from gankit.registry import FEATURE_NETS

log = logging.getLogger(__name__)

WEIGHTS_NAME = "mnist-classifier.safetensors"
# feature nets of this kind: name -> (dataset it is trained on, default epochs, accuracy floor)
NETS = {"mnist": ("mnist", 2, 0.99), "fashion-mnist": ("fashion-mnist", 8, 0.92)}


def _check_name(name: str) -> str:
    if name not in NETS:
        raise GankitError(f"no trainable feature net {name!r}: choose one of {', '.join(NETS)}")
    return name


class MNISTClassifier(nn.Module):
    """Small VGG-style CNN; ``forward`` returns (features N x 128, logits N x 10)."""

    FEATURE_DIM = 128

    def __init__(self, num_classes: int = 10):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU(inplace=True)]

        self.body = nn.Sequential(*block(1, 32), nn.MaxPool2d(2), *block(32, 64), nn.MaxPool2d(2),
                                  *block(64, 128), nn.MaxPool2d(2), nn.Flatten(),
                                  nn.Linear(128 * 3 * 3, self.FEATURE_DIM, bias=False),
                                  nn.BatchNorm1d(self.FEATURE_DIM), nn.ReLU(inplace=True))
        self.drop = nn.Dropout(0.3)
        self.head = nn.Linear(self.FEATURE_DIM, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.body(x)
        return f, self.head(self.drop(f))


def _prep(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x {1,3} x 28 x 28 -> float N x 1 x 28 x 28 in [-1, 1]."""
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise GankitError(f"the mnist feature net takes uint8 N x 1 x 28 x 28 images, got "
                          f"{images.dtype} {tuple(images.shape)}")
    x = images.float()
    if x.shape[1] == 3:  # PIL's "L" conversion (ITU-R 601-2 luma)
        x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    if x.shape[-2:] != (28, 28):
        raise GankitError(f"the mnist feature net needs 28 x 28 images, got "
                          f"{tuple(x.shape[-2:])}: generate at resolution 28")
    return x / 127.5 - 1


def default_weights_path(name: str = "mnist") -> Path:
    from gankit.metrics.weights import cache_dir

    return cache_dir() / "weights" / f"{_check_name(name)}-classifier.safetensors"


def save_classifier(model: MNISTClassifier, path: str | Path, meta: dict) -> Path:
    from safetensors.torch import save_file

    from gankit.utils.io import atomic_write

    path = Path(path)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_name(f".{path.name}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(tmp), metadata={"gankit": json.dumps(meta)})
    data = tmp.read_bytes()
    tmp.unlink()
    atomic_write(path, lambda f: f.write(data))
    return path


def load_classifier(path: str | Path | None = None,
                    name: str = "mnist") -> tuple[MNISTClassifier, dict]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    p = Path(path) if path else default_weights_path(name)
    if not p.is_file():
        raise GankitError(f"the {name} feature net weights {p} do not exist: train them with "
                          f"`gankit evaluate train-feature-net {name}` (a few minutes on CPU)"
                          + ("" if path is None else " --out PATH"))
    try:
        with safe_open(str(p), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("gankit", "{}"))
        model = MNISTClassifier()
        model.load_state_dict(load_file(str(p)))
    except Exception as e:
        raise GankitError(f"{p} is not a {name} feature net weights file: {e}") from None
    return model.eval(), meta


def ensure_weights(name: str = "mnist", progress: bool = True) -> Path:
    """The cached weights of feature net ``name``, trained (and cached) first if missing.

    First use on a fresh machine trains the net on its data set's train split (a few CPU
    minutes, once, with a progress bar) instead of stopping with an error; the explicit
    ``gankit evaluate train-feature-net NAME`` does the same ahead of time.
    """
    path = default_weights_path(name)
    if path.is_file():
        return path
    dataset, epochs, _ = NETS[name]
    log.info("the %s feature net is not cached yet (%s): training it now on %s, %d epochs "
             "(once; a few CPU minutes)", name, path, dataset, epochs)
    path, meta = train_feature_net(path, progress=progress, name=name)
    log.info("%s feature net trained: test accuracy %.4f in %.0f s; cached at %s", name,
             meta["test_accuracy"], meta["train_seconds"], path)
    return path


class MNISTFeatures(FeatureNet):
    name = "mnist"
    dim = MNISTClassifier.FEATURE_DIM
    num_classes = 10
    batch_size = 500
    classifier = True

    def __init__(self, weights: str | None = None, resize: str = "legacy", device="cpu",
                 name: str = "mnist", progress: bool = True, **kw):
        self.name = _check_name(name)
        if not weights:  # the cached net, made on first use
            ensure_weights(self.name, progress)
        self.model, self.meta = load_classifier(weights, self.name)
        self.weights_path = Path(weights) if weights else default_weights_path(self.name)
        self.device = torch.device(device)
        self.model.to(self.device)

    def protocol(self) -> dict:
        acc = self.meta.get("test_accuracy")
        title = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}[self.name]
        return {"feature_net": f"{self.name} (gankit {title} classifier, 128-d features"
                               + (f", test acc {acc:.4f})" if acc else ")"),
                "weights": self.weights_path.name, "resize": "none (28x28)"}

    def __call__(self, images):
        x = _prep(images).to(self.device)
        with torch.inference_mode():
            f, logits = self.model(x)
        return {"pool": f.float(), "logits": logits.float()}


@FEATURE_NETS.register("mnist")
def build_mnist(weights=None, resize="legacy", device="cpu", **kw) -> MNISTFeatures:
    return MNISTFeatures(weights, resize, device, progress=kw.get("progress", True))


@FEATURE_NETS.register("fashion-mnist")
def build_fashion_mnist(weights=None, resize="legacy", device="cpu", **kw) -> MNISTFeatures:
    return MNISTFeatures(weights, resize, device, name="fashion-mnist",
                         progress=kw.get("progress", True))


def class_coverage(logits: np.ndarray, num_classes: int = 10) -> dict[str, float]:
    """Coverage of generated samples by the classifier's predicted class.

    classes_present: classes predicted for at least one sample; kl_to_uniform:
    KL(h || U) = sum_c h_c log(h_c K) of the predicted-class histogram h (0 = perfectly
    balanced, log K = a single class); mean_confidence: mean max softmax probability.
    """
    logits = torch.as_tensor(np.asarray(logits, np.float64))
    p = logits.softmax(1)
    pred = p.argmax(1)
    h = torch.bincount(pred, minlength=num_classes).double() / len(pred)
    nz = h > 0
    kl = float((h[nz] * (h[nz] * num_classes).log()).sum())
    return {"classes_present": int(nz.sum()), "kl_to_uniform": kl,
            "mean_confidence": float(p.max(1).values.mean())}


def train_classifier(train_x: torch.Tensor, train_y: torch.Tensor, test_x: torch.Tensor,
                     test_y: torch.Tensor, epochs: int = 2, batch_size: int = 128,
                     lr: float = 2e-3, seed: int = 0, progress: bool = True,
                     flip: bool = False, desc: str = "mnist",
                     model: nn.Module | None = None) -> tuple:
    """Train on uint8 N x 1 x 28 x 28 images; returns (model, metadata with test accuracy).

    Adam with a one-cycle cosine schedule and light random shifts (+-2 px), which reach
    >= 99% test accuracy on MNIST in a few epochs on a CPU; ``flip`` adds random horizontal
    mirroring (clothes are left-right symmetric, digits are not). ``model``: another network
    with the same interface ([-1, 1] images -> (features, logits)) to train instead of a new
    :class:`MNISTClassifier` (the attacks' transfer classifier).
    """
    from tqdm import tqdm

    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = (MNISTClassifier() if model is None else model).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * (len(train_x) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    xs = _prep(train_x)
    t0 = time.perf_counter()
    step = 0
    with tqdm(total=steps, desc=f"train {desc} feature net", disable=not progress) as bar:
        for _ in range(epochs):
            perm = torch.randperm(len(xs), generator=g)
            model.train()
            for lo in range(0, len(xs) - batch_size + 1, batch_size):
                idx = perm[lo:lo + batch_size]
                x = xs[idx]
                # random shifts of up to 2 pixels (pad with background, crop)
                dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
                x = torch.roll(F.pad(x, (2, 2, 2, 2), value=-1), (dy, dx), (2, 3))[..., 2:30, 2:30]
                if flip:  # mirror a random half of the batch
                    m = torch.rand(len(x), generator=g) < 0.5
                    x = torch.where(m.view(-1, 1, 1, 1), x.flip(3), x)
                loss = F.cross_entropy(model(x.contiguous(memory_format=torch.channels_last))[1],
                                       train_y[idx].long())
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                bar.update(1)
                if step % 50 == 0:
                    bar.set_postfix(loss=f"{loss.item():.3f}")
    seconds = time.perf_counter() - t0
    model.eval()
    acc = accuracy(model, test_x, test_y)
    meta = {"test_accuracy": acc, "epochs": epochs, "train_seconds": round(seconds, 1),
            "threads": torch.get_num_threads(), "seed": seed, "train_images": len(train_x)}
    return model, meta


def accuracy(model: MNISTClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    correct = 0
    with torch.inference_mode():
        for lo in range(0, len(x), 1000):
            correct += int((model(_prep(x[lo:lo + 1000]))[1].argmax(1) == y[lo:lo + 1000])
                           .sum())
    return correct / len(x)


def train_feature_net(out: str | Path | None = None, epochs: int | None = None, seed: int = 0,
                      progress: bool = True, root: str = "",
                      name: str = "mnist") -> tuple[Path, dict]:
    """Train the ``name`` feature net (mnist or fashion-mnist) on its dataset's train split,
    test it on the test split, save it; ``epochs`` None = the net's default."""
    from gankit.config import DataConfig
    from gankit.data import load_dataset

    dataset, default_epochs, floor = NETS[_check_name(name)]
    sets = []
    for split in ("train", "test"):
        ds = load_dataset(DataConfig(dataset=dataset, split=split, root=root, channels=1))
        if getattr(ds, "labels", None) is None:
            raise GankitError(f"the {dataset} dataset came without labels")
        sets += [ds.images, ds.labels]
    model, meta = train_classifier(*sets, epochs=epochs or default_epochs, seed=seed,
                                   progress=progress, flip=name == "fashion-mnist", desc=name)
    meta["dataset"] = dataset
    if meta["test_accuracy"] < floor:
        log.warning("test accuracy %.4f is below %.2f", meta["test_accuracy"], floor)
    path = save_classifier(model, out or default_weights_path(name), meta)
    return path, meta
