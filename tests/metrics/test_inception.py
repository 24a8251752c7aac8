"""FID Inception structure, BN folding, resizing and weight loading (random weights)."""
import hashlib
import os
import stat

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gankit.errors import CheckpointError, GankitError
from gankit.metrics import features, weights
from gankit.metrics.inception import FIDInceptionV3, load_state


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    m = FIDInceptionV3()
    # BN statistics from a random batch (train mode, cumulative average): activations stay
    # O(1) through all 94 layers instead of decaying into slow denormal floats, and folding
    # non-trivial statistics is really exercised
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.momentum = None
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.1)
    with torch.no_grad():
        m.train()(torch.rand(4, 3, 96, 96) * 2 - 1)
    return m.eval()


@pytest.fixture(scope="module")
def state():
    torch.manual_seed(0)
    return FIDInceptionV3().state_dict()


def test_state_dict_layout_is_pytorch_fid(state):
    sd = state
    assert sd["fc.weight"].shape == (1008, 2048)
    assert sd["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    assert sd["Mixed_6e.branch7x7_2.conv.weight"].shape == (192, 192, 1, 7)
    assert sd["Mixed_5b.branch_pool.bn.running_var"].shape == (32,)
    assert not any(k.startswith("AuxLogits") for k in sd)
    convs = [k for k in sd if k.endswith("conv.weight")]
    assert len(convs) == 94  # the 94 BasicConv2d of Inception-v3 without the aux head


def test_load_state_accepts_file_without_num_batches_tracked_and_rejects_others(state):
    sd = {k: v for k, v in state.items() if "num_batches_tracked" not in k}
    other = load_state(FIDInceptionV3(), sd)
    assert torch.equal(other.fc.weight, state["fc.weight"])
    with pytest.raises(CheckpointError, match="missing"):
        load_state(FIDInceptionV3(), {k: v for k, v in sd.items() if not k.startswith("fc")})
    bad = dict(sd, **{"fc.weight": torch.zeros(1000, 2048)})
    with pytest.raises(CheckpointError, match="shape"):
        load_state(FIDInceptionV3(), bad)


def test_fused_block_equals_unfused():
    from gankit.metrics.inception import FIDInceptionE

    torch.manual_seed(1)
    block = FIDInceptionE(64, pool="max").eval()
    for mod in block.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.2, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.1, 0.1)
    x = torch.randn(2, 64, 8, 8)
    with torch.inference_mode():
        ref = block(x)
        for conv in block.children():
            conv.fuse()
        out = block(x.contiguous(memory_format=torch.channels_last))
    assert ref.shape == (2, 320 + 768 + 768 + 192, 8, 8)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_fused_equals_unfused(net):
    import copy

    x = torch.rand(2, 3, 96, 96) * 2 - 1  # smallest size that passes every stride: 75
    with torch.inference_mode():
        ref = net(x)
        fused = copy.deepcopy(net).fuse()(x.contiguous(memory_format=torch.channels_last))
    assert ref["pool"].shape == (2, 2048) and ref["logits_unbiased"].shape == (2, 1008)
    for k in ("pool", "logits_unbiased"):
        # float32 rounding differs after folding; compare against the output's scale
        scale = ref[k].abs().max()
        assert (fused[k] - ref[k]).abs().max() <= 1e-3 * scale, k
    # fused buffers never enter the state_dict: the file layout stays pytorch-fid's
    assert set(copy.deepcopy(net).fuse().state_dict()) == set(net.state_dict())


def test_resize_legacy_is_pytorch_fid_formula():
    img = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    ref = 2 * F.interpolate(img.float() / 255, size=(299, 299), mode="bilinear",
                            align_corners=False) - 1
    assert torch.equal(features.resize_legacy(img, 299), ref)


def test_resize_clean_is_pil_bicubic_on_floats():
    from PIL import Image

    img = torch.randint(0, 256, (1, 3, 32, 32), dtype=torch.uint8)
    out = features.resize_clean(img, 64)
    assert out.shape == (1, 3, 64, 64) and out.min() >= -1 and out.max() <= 1
    ch = Image.fromarray(img[0, 1].numpy().astype(np.float32), mode="F")
    ref = np.clip(np.asarray(ch.resize((64, 64), Image.BICUBIC)), 0, 255) / 255 * 2 - 1
    np.testing.assert_allclose(out[0, 1].numpy(), ref, atol=1e-6)
    flat = features.resize_clean(torch.full((1, 3, 8, 8), 200, dtype=torch.uint8), 20)
    torch.testing.assert_close(flat, torch.full_like(flat, 200 / 255 * 2 - 1))


@pytest.mark.slow
def test_inception_features_from_weights_file(net, tmp_path):
    p = tmp_path / "w.pth"
    torch.save(net.state_dict(), p)
    fn = features.InceptionFeatures(weights=str(p))
    img = torch.randint(0, 256, (1, 1, 28, 28), dtype=torch.uint8)  # greyscale -> RGB
    out = fn(img)
    with torch.inference_mode():
        ref = net(features.resize_legacy(img.expand(-1, 3, -1, -1), 299))
    assert (out["pool"] - ref["pool"]).abs().max() <= 1e-3 * ref["pool"].abs().max()
    assert "inception" in fn.protocol()["feature_net"] and fn.protocol()["resize"] == "legacy"


def test_missing_weights_error_says_where(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(GankitError) as e:
        features.InceptionFeatures(download=False)
    msg = str(e.value)
    assert weights.FID_WEIGHTS_NAME in msg and "--weights" in msg
    assert str(tmp_path / "cache" / "weights") in msg and str(tmp_path / "data") in msg
    with pytest.raises(GankitError, match="does not exist"):
        features.InceptionFeatures(weights=str(tmp_path / "nope.pth"))


def test_download_checks_sha256(http_dir, tmp_path):
    root, url = http_dir
    payload = b"fake weights " * 1000
    (root / "w.bin").write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    dest = tmp_path / "dl" / "w.bin"
    old_mask = os.umask(0o022)
    try:
        assert weights.download(f"{url}/w.bin", dest, digest).read_bytes() == payload
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644  # readable by others, not mkstemp's 0600
    assert weights.download(f"{url}/w.bin", tmp_path / "dl2" / "w.bin", digest[:8]).is_file()
    bad = tmp_path / "dl3" / "w.bin"
    with pytest.raises(CheckpointError, match="sha256"):
        weights.download(f"{url}/w.bin", bad, "0" * 64)
    assert not bad.exists() and list(bad.parent.iterdir()) == []  # no partial file left
    with pytest.raises(GankitError, match="could not download"):
        weights.download(f"{url}/missing.bin", tmp_path / "dl4" / "x", digest)


def test_find_weights_downloads_into_cache(http_dir, tmp_path, monkeypatch):
    root, url = http_dir
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GANKIT_DATA", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (root / "x.pth").write_bytes(b"abc")
    sha = hashlib.sha256(b"abc").hexdigest()
    p = weights.find_weights("x.pth", url=f"{url}/x.pth", sha256=sha[:8])
    assert p == tmp_path / "cache" / "weights" / "x.pth"
    assert weights.find_weights("x.pth") == p  # found in the cache the second time
    with pytest.raises(GankitError, match="put it at one of"):
        weights.find_weights("y.pth", url=f"{url}/y.pth", sha256=sha)
