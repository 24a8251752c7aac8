"""Slow tier: the mnist-dcgan preset at its default length draws digits of every class that
gankit's MNIST classifier recognises about as confidently as real digits (issue 14).

No timing asserts: the bars are sample-quality numbers measured on 5,000 samples from fixed
seeds. About 5 CPU-minutes (training) + 1 minute (the feature net, when not cached).
"""
from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture
def mnist_net(tmp_path_factory, data_root):
    from gankit.metrics.mnist_net import MNISTFeatures, default_weights_path, train_feature_net

    path = default_weights_path("mnist")
    if not path.is_file():
        path, _ = train_feature_net(tmp_path_factory.mktemp("net") / "mnist.safetensors",
                                    progress=False, root=str(data_root))
    return MNISTFeatures(str(path))


def coverage(net, images: torch.Tensor) -> dict:
    from gankit.metrics.mnist_net import class_coverage

    logits = torch.cat([net(images[i:i + 500])["logits"] for i in range(0, len(images), 500)])
    return class_coverage(logits.numpy(), 10)


def test_mnist_dcgan_default_length_covers_every_class_confidently(tmp_path, data_root,
                                                                     mnist_net):
    from gankit.config import DataConfig, load_config
    from gankit.data import load_dataset
    from gankit.data.base import to_uint8
    from gankit.sampling import load_generator
    from gankit.train.trainer import train

    cfg = load_config("mnist-dcgan", [f"data.root={data_root}", "train.progress=false",
                                      "train.threads=1"])
    run = train(cfg, tmp_path / "run")
    fake = to_uint8(load_generator(run / "export", "cpu").generate(list(range(5000)),
                                                                    batch_size=500))
    real = load_dataset(DataConfig(dataset="mnist", split="test", root=str(data_root),
                                   channels=1)).images[:5000]
    got, ref = coverage(mnist_net, fake), coverage(mnist_net, real)
    assert got["classes_present"] == 10, got
    assert got["kl_to_uniform"] <= 0.03, got
    assert got["mean_confidence"] >= ref["mean_confidence"] - 0.05, (got, ref)
