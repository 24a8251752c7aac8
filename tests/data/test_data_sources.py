"""Where files are found, verified downloads from a local HTTP server, missing-data messages."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
from datagen import make_idx_set

import gankit.data.sources as sources
from gankit.config import DataConfig
from gankit.data import load_dataset
from gankit.errors import DataError
from gankit.utils.io import sha256_of


def load(spec, **kw):
    return load_dataset(DataConfig(dataset=spec, **kw))


def contents(folder: Path) -> list[str]:
    """Everything in ``folder`` (temp files included) except the download lock."""
    return sorted(p.name for p in folder.iterdir() if p.name != ".lock") if folder.exists() \
        else []


def test_root_order(tmp_path, monkeypatch):
    explicit, env, cache, system = (tmp_path / n for n in ("explicit", "env", "cache", "sys"))
    for i, base in enumerate((explicit, env, cache / "gankit" / "data", system)):
        make_idx_set(base / "mnist", n_train=5, fill=i)
    monkeypatch.setenv("GANKIT_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(sources, "SYSTEM_DIRS", (str(system),))

    def winner(root=""):
        return int(load("mnist", root=root, download=False).images[0, 0, 0, 0])

    assert winner(str(explicit)) == 0
    assert winner() == 1
    monkeypatch.delenv("GANKIT_DATA")
    assert winner() == 2
    shutil.rmtree(cache)
    assert winner() == 3
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert sources.cache_dir() == tmp_path / "home" / ".cache" / "gankit" / "data"


def test_debian_layout(tmp_path, monkeypatch):
    # Debian's dataset-fashion-mnist installs /usr/share/datasets/fashion-mnist/*.gz
    make_idx_set(tmp_path / "usr-share-datasets" / "fashion-mnist")
    monkeypatch.setattr(sources, "SYSTEM_DIRS", (str(tmp_path / "usr-share-datasets"),))
    ds = load("fashion-mnist", download=False)
    assert len(ds) == 20 and ds.source.endswith("usr-share-datasets/fashion-mnist")


def test_missing_dataset_message_lists_every_place(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "env"))
    with pytest.raises(DataError) as e:
        load("fashion-mnist", root=str(tmp_path / "mine"), download=False)
    msg = str(e.value)
    for place in (tmp_path / "mine" / "fashion_mnist", tmp_path / "env" / "fashion_mnist",
                  tmp_path / "xdg" / "gankit" / "data" / "fashion-mnist",
                  tmp_path / "system" / "FashionMNIST" / "raw"):
        assert str(place) in msg
    assert "gankit data download fashion-mnist" in msg and "apt-get install" in msg


def _copy_fashion_test(real_data: Path, mirror: Path) -> Path:
    dest = mirror / "fashion_mnist"
    dest.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(real_data / "fashion_mnist" / name, dest / name)
    return dest


def test_download_verified_into_cache(real_data, mirror, tmp_path):
    _copy_fashion_test(real_data, mirror)
    ds = load("fashion-mnist:test", download=True)
    cache = tmp_path / "xdg" / "gankit" / "data" / "fashion_mnist"
    assert len(ds) == 10000 and ds.source == str(cache)
    assert contents(cache) == ["t10k-images-idx3-ubyte.gz",
                                                       "t10k-labels-idx1-ubyte.gz"]
    # now found without the server
    assert len(load("fashion-mnist:test", download=False)) == 10000


def test_download_checksum_mismatch_leaves_nothing(real_data, mirror, tmp_path):
    served = _copy_fashion_test(real_data, mirror)
    labels = served / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(labels.read_bytes())
    data[-10] ^= 0xFF
    labels.write_bytes(bytes(data))
    with pytest.raises(DataError, match="checksum mismatch") as e:
        load("fashion-mnist:test", download=True)
    assert "Looked in" in str(e.value)
    cache = tmp_path / "xdg" / "gankit" / "data" / "fashion_mnist"
    # the verified images file stays; no labels file and no temp file is left behind
    assert contents(cache) == ["t10k-images-idx3-ubyte.gz"]


def test_download_failure_is_a_data_error(mirror, tmp_path):
    with pytest.raises(DataError, match="download failed.*404"):
        load("mnist:test", download=True)
    cache = tmp_path / "xdg" / "gankit" / "data" / "mnist"
    assert contents(cache) == []


def test_download_file_atomic(mirror, tmp_path):
    (mirror / "f.bin").write_bytes(b"hello")
    url = sources.mirror_urls(sources.CHECKSUMS["mnist"])[0].rsplit("/mnist/", 1)[0] + "/f.bin"
    good = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    dest = tmp_path / "out" / "f.bin"
    old_mask = os.umask(0o022)
    try:
        sources.download_file(url, dest, good, progress=False)
    finally:
        os.umask(old_mask)
    assert dest.read_bytes() == b"hello"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644  # readable by others, not mkstemp's 0600
    with pytest.raises(DataError, match="checksum mismatch"):
        sources.download_file(url, tmp_path / "out" / "g.bin", "0" * 64, progress=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f.bin"]


def test_download_file_accepts_a_regzipped_file_with_the_same_contents(mirror, tmp_path):
    """A mirror that recompressed the file: other gzip bytes, same unpacked data."""
    import gzip
    import hashlib

    data = b"idx bytes " * 500
    official = gzip.compress(data, mtime=0)
    (mirror / "r.gz").write_bytes(gzip.compress(data, compresslevel=1, mtime=12345))
    url = sources.mirror_urls(sources.CHECKSUMS["mnist"])[0].rsplit("/mnist/", 1)[0] + "/r.gz"
    want, content = hashlib.sha256(official).hexdigest(), hashlib.sha256(data).hexdigest()
    dest = sources.download_file(url, tmp_path / "out" / "r.gz", want, progress=False,
                                 content_sha256=content)
    assert gzip.decompress(dest.read_bytes()) == data
    with pytest.raises(DataError, match="checksum mismatch"):  # other contents: refused
        sources.download_file(url, tmp_path / "out" / "s.gz", want, progress=False,
                              content_sha256=hashlib.sha256(b"other").hexdigest())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r.gz"]


def test_download_generated_set_end_to_end(mirror, tmp_path, monkeypatch):
    """Without the real files: serve a generated MNIST-layout set with matching checksums."""
    make_idx_set(mirror / "mnist", n_train=7, n_test=3)
    files = tuple(sources.RemoteFile(p.name, sha256_of(p), p.stat().st_size)
                  for p in sorted((mirror / "mnist").iterdir()))
    monkeypatch.setitem(sources.CHECKSUMS, "mnist",
                        sources.Remote("mnist", ("http://unused.invalid/",), files))
    assert len(load("mnist", split="all", download=True)) == 10
    cache = tmp_path / "xdg" / "gankit" / "data" / "mnist"
    assert len(contents(cache)) == 4


def test_cifar_download_and_unpack(mirror, tmp_path, monkeypatch):
    import tarfile

    from datagen import make_cifar_batches

    src = tmp_path / "src"
    x = make_cifar_batches(src / "cifar-10-batches-py", per_batch=2)
    (mirror / "cifar10").mkdir()
    tar_path = mirror / "cifar10" / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    rf = sources.RemoteFile(tar_path.name, sha256_of(tar_path), tar_path.stat().st_size)
    monkeypatch.setitem(sources.CHECKSUMS, "cifar10",
                        sources.Remote("cifar10", ("http://unused.invalid/",), (rf,)))
    ds = load("cifar10", download=True)
    cache = tmp_path / "xdg" / "gankit" / "data" / "cifar10"
    assert ds.images.shape == x.shape and ds.source == str(cache / "cifar-10-batches-py")
    assert contents(cache) == ["cifar-10-batches-py"]   # archive removed


def test_regzipped_official_contents_accepted(real_data, mirror, tmp_path):
    """shared/data's MNIST train labels were re-gzipped: other .gz bytes, official contents."""
    import gzip

    (mirror / "mnist").mkdir()
    src = real_data / "mnist" / "train-labels-idx1-ubyte.gz"
    assert sha256_of(src) != sources.CHECKSUMS["mnist"].files[1].sha256
    shutil.copy(src, mirror / "mnist" / src.name)
    folder = sources.download("mnist", [src.name])
    assert (folder / src.name).read_bytes() == src.read_bytes()
    # the same contents with one label changed are rejected
    data = bytearray(gzip.decompress(src.read_bytes()))
    data[100] = (data[100] + 1) % 10
    (mirror / "mnist" / src.name).write_bytes(gzip.compress(bytes(data)))
    (folder / src.name).unlink()
    with pytest.raises(DataError, match="checksum mismatch"):
        sources.download("mnist", [src.name])
    assert contents(folder) == []
