"""Write-path gaps of issue 17, item 9: the copy that replaces a hard link of latest.pt (on
file systems without hard links) reaches the disk before it is renamed into place."""
from __future__ import annotations

import os

from gankit.runfiles import checkpoint as ckpt_mod


def test_the_hard_link_fallback_copy_is_fsynced_before_the_rename(tmp_path, monkeypatch):
    src, dst = tmp_path / "ckpt-000004.pt", tmp_path / "latest.pt"
    src.write_bytes(b"new state" * 1000)
    dst.write_bytes(b"old state")
    events = []

    def no_links(a, b):
        raise OSError(1, "Operation not permitted")

    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(ckpt_mod.os, "link", no_links)
    monkeypatch.setattr(ckpt_mod.os, "fsync",
                        lambda fd: (events.append(("fsync", os.fstat(fd).st_size)),
                                    real_fsync(fd)))
    monkeypatch.setattr(ckpt_mod.os, "replace",
                        lambda a, b: (events.append(("replace", str(b))), real_replace(a, b)))
    ckpt_mod.replace_with_link(src, dst)
    assert dst.read_bytes() == src.read_bytes() and not dst.samefile(src)
    assert events[0] == ("fsync", src.stat().st_size) and events[-1] == ("replace", str(dst))
    assert not list(tmp_path.glob(".*.tmp"))
