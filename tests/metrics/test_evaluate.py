"""Sources, the shared feature pass, the reference cache, the mnist net and the CLI."""
import json

import numpy as np
import pytest
import torch

from gankit.errors import GankitError
from gankit.metrics import evaluate as ev
from gankit.metrics import scores
from gankit.metrics.features import FeatureNet
from gankit.metrics.sources import FolderSource, TensorSource, open_source


class ToyNet(FeatureNet):
    """Deterministic cheap features: per-channel means and a few pixels; counts its calls."""

    name, dim, num_classes, batch_size = "toy", 8, 4, 16

    def __init__(self):
        self.calls = 0
        self.resize = "none"
        g = torch.Generator().manual_seed(0)
        self.proj = torch.randn(28 * 28, 8, generator=g)
        self.cls = torch.randn(8, 4, generator=g)

    def protocol(self):
        return {"feature_net": "toy", "resize": "none"}

    def __call__(self, images):
        self.calls += 1
        x = images.float().mean(1).flatten(1) / 255
        f = x @ self.proj
        return {"pool": f, "logits": f @ self.cls}


def _images(seed, n=64, shift=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 200, (n, 1, 28, 28), generator=g) + shift).clamp(0, 255).to(
        torch.uint8)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_one_feature_pass_serves_every_metric(cache):
    net = ToyNet()
    fake, real = TensorSource(_images(0), "a"), TensorSource(_images(1, shift=30), "b")
    opts = ev.EvalOptions(num=64, kid_subset_size=32, kid_subsets=5, progress=False)
    res = ev.evaluate(fake, real, "fid,is,kid,pr,coverage", opts, net=net)
    assert net.calls == 8  # 64 / 16 batches per side, once each
    m = res["metrics"]
    f1, f2 = net(_images(0))["pool"].numpy(), net(_images(1, shift=30))["pool"].numpy()
    assert m["fid"] == pytest.approx(scores.fid_from_features(f1, f2), rel=1e-9)
    assert set(m["kid"]) == {"mean", "std", "subsets", "subset_size"}
    assert 0 <= m["pr"]["precision"] <= 1 and m["is"]["splits"] == 10
    assert m["coverage"]["classes_present"] <= 4
    p = res["protocol"]
    assert (p["num_source"], p["num_reference"], p["feature_net"]) == (64, 64, "toy")
    text = ev.format_result(res)
    assert "64 images of a vs 64 images of b" in text and "toy" in text


def test_metric_names_and_missing_ref():
    with pytest.raises(GankitError, match="did you mean fid"):
        ev.parse_metrics("fdi")
    with pytest.raises(GankitError, match="--ref"):
        ev.evaluate(TensorSource(_images(0), "a"), None, "fid", net=ToyNet())


def test_reference_statistics_cached(cache, monkeypatch):
    net = ToyNet()
    real = TensorSource(_images(1), "toyset:train", split="train", cacheable=True)
    opts = ev.EvalOptions(num=32, num_ref=48, progress=False)
    first = ev.evaluate(TensorSource(_images(0), "a"), real, "fid", opts, net=net)
    assert len(list((cache / "refstats").glob("*.npz"))) == 1
    calls = net.calls
    second = ev.evaluate(TensorSource(_images(0), "a"), real, "fid", opts, net=net)
    assert net.calls - calls == 2  # only the source side (32 / 16) was recomputed
    assert second["metrics"]["fid"] == first["metrics"]["fid"]
    # another count is another key
    ev.evaluate(TensorSource(_images(0), "a"), real, "fid",
                ev.EvalOptions(num=32, num_ref=40, progress=False), net=net)
    assert len(list((cache / "refstats").glob("*.npz"))) == 2


def test_folder_and_npz_sources(tmp_path):
    from PIL import Image

    imgs = _images(2, n=5).expand(-1, 3, -1, -1).contiguous()
    for i, a in enumerate(imgs):
        Image.fromarray(a.permute(1, 2, 0).numpy()).save(tmp_path / f"{i:03d}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    src = open_source(str(tmp_path))
    assert isinstance(src, FolderSource) and len(src) == 5
    got = torch.cat(list(src.batches(2, 5)))
    assert torch.equal(got, imgs)  # PNG is lossless; file order = name order
    np.savez(tmp_path / "x.npz", x=imgs.permute(0, 2, 3, 1).numpy())  # NHWC
    src = open_source(f"npz:{tmp_path / 'x.npz'}")
    assert torch.equal(torch.cat(list(src.batches(4, 5))), imgs)
    Image.fromarray(np.zeros((10, 10, 3), np.uint8)).save(tmp_path / "999.png")
    with pytest.raises(GankitError, match="one size"):
        list(open_source(f"folder:{tmp_path}").batches(10, 6))
    with pytest.raises(GankitError):
        open_source(f"folder:{tmp_path / 'nothing'}")


def test_generator_source_quantises(monkeypatch):
    import gankit.sampling as sampling
    from gankit.metrics import sources

    seen = []

    class FakeGen:
        def generate(self, seeds, labels=None):
            seen.append(list(seeds))
            return torch.linspace(-1.2, 1.2, 28 * 28).view(1, 1, 28, 28).repeat(len(seeds), 1,
                                                                                1, 1)

    monkeypatch.setattr(sampling, "load_generator", lambda p: FakeGen())
    src = sources.GeneratorSource("run")
    out = torch.cat(list(src.batches(4, 6)))
    assert out.dtype == torch.uint8 and out.shape == (6, 1, 28, 28)
    assert int(out.min()) == 0 and int(out.max()) == 255  # clamped like a saved PNG
    assert seen == [[0, 1, 2, 3], [4, 5]]


def test_class_coverage():
    from gankit.metrics.mnist_net import class_coverage

    logits = np.eye(10)[np.arange(100) % 10] * 20
    c = class_coverage(logits)
    assert c["classes_present"] == 10 and c["kl_to_uniform"] == pytest.approx(0, abs=1e-12)
    assert c["mean_confidence"] > 0.99
    c = class_coverage(np.eye(10)[np.zeros(50, int)] * 20)
    assert c["classes_present"] == 1 and c["kl_to_uniform"] == pytest.approx(np.log(10))


def test_mnist_net_roundtrip_and_cli(tmp_path, capsys, cache):
    from gankit.cli import main
    from gankit.metrics.mnist_net import MNISTClassifier, load_classifier, save_classifier

    torch.manual_seed(0)
    p = save_classifier(MNISTClassifier().eval(), tmp_path / "m.safetensors",
                        {"test_accuracy": 0.5})
    model, meta = load_classifier(p)
    assert meta["test_accuracy"] == 0.5
    np.savez(tmp_path / "a.npz", x=_images(0, n=40).numpy())
    np.savez(tmp_path / "b.npz", x=_images(1, n=30, shift=40).numpy())
    out = tmp_path / "r.json"
    code = main(["evaluate", str(tmp_path / "a.npz"), "--ref", f"npz:{tmp_path / 'b.npz'}",
                 "--feature-net", "mnist", "--weights", str(p), "--metrics", "fid,is,coverage",
                 "--num", "40", "--no-progress", "--json", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "classifier_fid" in text and "40 images of npz:" in text and "30 images" in text
    res = json.loads(out.read_text())
    assert res["metrics"]["classifier_fid"] > 0 and res["protocol"]["num_reference"] == 30
    assert main(["evaluate", str(tmp_path / "a.npz"), "--feature-net", "mnist", "--metrics", "is",
                 "--weights",
                 str(tmp_path / "missing.safetensors")]) == 2
    assert "train-feature-net" in capsys.readouterr().err
    assert main(["evaluate", "missing.npz", "--metrics", "is"]) == 2
    assert "missing.npz does not exist" in capsys.readouterr().err


def test_train_feature_net_saves_loadable_weights(tmp_path, monkeypatch):
    import gankit.data
    from gankit.data.base import ImageDataset
    from gankit.metrics.mnist_net import load_classifier, train_feature_net

    asked = []

    def fake_load(cfg):  # a tiny labelled stand-in for MNIST
        asked.append((cfg.dataset, cfg.split))
        g = torch.Generator().manual_seed(len(asked))
        y = torch.randint(0, 10, (256,), generator=g)
        x = (y.view(-1, 1, 1, 1) * 25).expand(-1, 1, 28, 28).to(torch.uint8).contiguous()
        return ImageDataset(x, y)

    monkeypatch.setattr(gankit.data, "load_dataset", fake_load)
    path, meta = train_feature_net(tmp_path / "net.safetensors", epochs=1, progress=False)
    assert asked == [("mnist", "train"), ("mnist", "test")]
    model, saved = load_classifier(path)
    assert saved["test_accuracy"] == meta["test_accuracy"] and saved["epochs"] == 1
    # the file is plain tensors: loadable without pickle
    from safetensors.torch import load_file

    assert "head.weight" in load_file(str(path))


def test_fashion_mnist_feature_net_trains_on_fashion_mnist(tmp_path, monkeypatch):
    import gankit.data
    from gankit.data.base import ImageDataset
    from gankit.metrics.mnist_net import MNISTFeatures, default_weights_path, train_feature_net
    from gankit.registry import FEATURE_NETS

    asked = []

    def fake_load(cfg):
        asked.append((cfg.dataset, cfg.split))
        y = torch.arange(128) % 10
        x = (y.view(-1, 1, 1, 1) * 25).expand(-1, 1, 28, 28).to(torch.uint8).contiguous()
        return ImageDataset(x, y)

    monkeypatch.setattr(gankit.data, "load_dataset", fake_load)
    path, meta = train_feature_net(tmp_path / "f.safetensors", epochs=1, progress=False,
                                   name="fashion-mnist")
    assert asked == [("fashion-mnist", "train"), ("fashion-mnist", "test")]
    assert meta["dataset"] == "fashion-mnist"
    assert default_weights_path("fashion-mnist").name == "fashion-mnist-classifier.safetensors"
    net = FEATURE_NETS.get("fashion-mnist")(weights=str(path))
    assert isinstance(net, MNISTFeatures) and net.name == "fashion-mnist" and net.classifier
    assert net.protocol()["feature_net"].startswith("fashion-mnist (gankit Fashion-MNIST")
    with pytest.raises(GankitError, match="no trainable feature net 'cifar'"):
        train_feature_net(tmp_path / "c.safetensors", name="cifar")
