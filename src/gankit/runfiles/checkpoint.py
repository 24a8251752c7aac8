"""Checkpoints: plain dicts of state dicts and primitives, written atomically.

Layout (``FORMAT``): ``format, version, model, step, images_seen, config, data_info, nets,
ema, optimizers, scaler, loader, noise, rng, model_extra, lr_scale, rollbacks, stats_bytes``.
Everything loads with
``torch.load(weights_only=True)``: no pickled classes, so a checkpoint from an untrusted
source cannot run code. A checkpoint is a zip archive whose members carry CRC-32 sums;
``torch.load`` does not check them, so :func:`load_checkpoint` does: a file truncated, torn or
with flipped bits is refused with a message rather than loaded as silently wrong weights.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch

from gankit.errors import CheckpointError
from gankit.utils.io import atomic_write

FORMAT = "gankit.checkpoint"
VERSION = 1
_NUMBERED = re.compile(r"^ckpt-(\d+)\.pt$")


def save_checkpoint(state: dict[str, Any], path: str | Path) -> Path:
    """Write ``state`` to ``path`` atomically (temp file + fsync + rename).

    A write that fails inside torch's zip writer (a full disk, a quota) surfaces as torch's
    ``RuntimeError: ... unexpected pos``; it is raised here as the ``OSError`` it is, so the
    caller's one-line "could not write checkpoint" message covers it."""
    state = {"format": FORMAT, "version": VERSION, **state}
    path = Path(path)

    def write(f) -> None:
        try:
            torch.save(state, f)
        except RuntimeError as e:
            import errno

            free = shutil.disk_usage(path.parent).free
            if free < 16 * 2**20:
                raise OSError(errno.ENOSPC, f"no space left on the device ({free / 2**20:.1f} "
                                            f"MiB free)") from e
            raise OSError(errno.EIO, f"the write failed ({str(e).splitlines()[0][:200]})") from e

    return atomic_write(path, write)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a gankit checkpoint; raise CheckpointError with what to do if not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (a write was interrupted?); use an "
                              f"earlier checkpoint from the same folder")
    damaged = _crc_failure(path)
    if damaged:
        raise CheckpointError(f"checkpoint {path} is damaged ({damaged}); use an earlier "
                              f"checkpoint or `--resume auto`, which falls back to the newest "
                              f"readable one")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # truncated zip, foreign pickle, random bytes...
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: "
                              f"{str(e).splitlines()[0][:200]}); it is truncated or not a gankit "
                              f"checkpoint. Use an earlier checkpoint or `--resume auto`, which "
                              f"falls back to the newest readable one") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gankit checkpoint (no '{FORMAT}' format tag)")
    if int(state.get("version", 0)) > VERSION:
        raise CheckpointError(f"{path} was written by a newer gankit (format version "
                              f"{state['version']}); upgrade gankit to load it")
    for key in ("model", "config", "nets", "step"):
        if key not in state:
            raise CheckpointError(f"checkpoint {path} lacks {key!r}; it is damaged")
    return state


def _crc_failure(path: Path) -> str | None:
    """Why the zip archive at ``path`` fails its CRC check, or None (also for non-zip files,
    which ``torch.load`` then rejects with its own message)."""
    try:
        with zipfile.ZipFile(path) as z:
            bad = z.testzip()  # reads every member and compares its CRC-32
    except zipfile.BadZipFile:
        return None
    except (OSError, EOFError, RuntimeError, ValueError) as e:  # torn member headers, ...
        return f"{type(e).__name__}: {e}"
    if bad:
        return f"member {bad} fails its CRC-32 check: the file changed after it was written"
    return None


def checkpoint_candidates(ckpt_dir: str | Path) -> list[Path]:
    """latest.pt first, then numbered checkpoints newest first."""
    ckpt_dir = Path(ckpt_dir)
    numbered = sorted((p for p in ckpt_dir.glob("ckpt-*.pt") if _NUMBERED.match(p.name)),
                      key=lambda p: int(_NUMBERED.match(p.name).group(1)), reverse=True)
    latest = ckpt_dir / "latest.pt"
    return ([latest] if latest.exists() else []) + numbered


def find_resumable(ckpt_dir: str | Path, log=None) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint in ``ckpt_dir`` that loads; unreadable ones are reported and skipped.

    Among readable candidates the one with the highest step wins (a crash between writing a
    numbered checkpoint and latest.pt leaves latest.pt one save behind).
    """
    best: tuple[Path, dict[str, Any]] | None = None
    for p in checkpoint_candidates(ckpt_dir):
        try:
            state = load_checkpoint(p)
        except CheckpointError as e:
            if log:
                log.warning("skipping unreadable checkpoint: %s", e)
            continue
        if best is None or state["step"] > best[1]["step"]:
            best = (p, state)
    return best


def prune_checkpoints(ckpt_dir: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest numbered checkpoints (keep=0: keep all)."""
    if keep <= 0:
        return
    numbered = [p for p in checkpoint_candidates(ckpt_dir) if p.name != "latest.pt"]
    for p in numbered[keep:]:
        p.unlink(missing_ok=True)


def tidy_for_resume(out: Path, step: int, stats_bytes: int | None = None) -> None:
    """Before resuming at ``step``: drop the temp files of writes a crash interrupted and the
    stats.jsonl lines written after the checkpoint (they will be written again), so that the run
    folder reads as if the run had never stopped. ``stats_bytes`` is the size stats.jsonl had
    when the checkpoint was written; without it (older checkpoints) lines of steps past ``step``
    are dropped. Events (e.g. a non-finite loss that stopped the run) are kept."""
    for tmp in (out / "checkpoints").glob(".*.tmp"):
        tmp.unlink(missing_ok=True)
    stats = out / "stats.jsonl"
    if not stats.exists():
        return
    data = stats.read_bytes()
    # the recorded size is trusted only where it ends a line and every line before it is of
    # this history (step <= the checkpoint's); otherwise the lines are kept by step
    exact = (stats_bytes is not None and stats_bytes <= len(data)
             and (stats_bytes == 0 or data[stats_bytes - 1:stats_bytes] == b"\n")
             and all(_step_of(line) <= step for line in data[:stats_bytes].splitlines()))
    kept = [data[:stats_bytes]] if exact else []
    for line in (data[stats_bytes:] if exact else data).splitlines(keepends=True):
        try:
            record = json.loads(line)
        except ValueError:  # a line torn by the crash
            continue
        if "event" in record or (not exact and record.get("step", 0) <= step):
            kept.append(line)
    atomic_write(stats, lambda f: f.write(b"".join(kept)))


def _step_of(line: bytes) -> int:
    try:
        return int(json.loads(line).get("step", 0))
    except (ValueError, AttributeError, TypeError):
        return 0


def branch_off(out: Path, step: int, resume_path: Path | None) -> Path | None:
    """Resuming at ``step`` in a folder that holds later checkpoints starts a new branch: the
    later checkpoints and the stats.jsonl lines past ``step`` move (never deleted) to
    ``branches/<time>-after-<step>/``, latest.pt points at the resumed state, and
    ``lineage.jsonl`` records which checkpoint the branch started from and where the abandoned
    one went. Pruning and ``--resume auto`` then see only the current branch. Returns the
    folder the abandoned states went to, or None when there were none."""
    import time

    from gankit.utils.io import atomic_write_text

    ckpt_dir = out / "checkpoints"
    numbered = [p for p in checkpoint_candidates(ckpt_dir) if p.name != "latest.pt"]
    later = [p for p in numbered if int(_NUMBERED.match(p.name).group(1)) > step]
    latest = ckpt_dir / "latest.pt"
    latest_later = False
    if latest.exists():  # usually a hard link to a numbered one; otherwise read its step
        twin = next((p for p in numbered if latest.samefile(p)), None)
        latest_later = twin in later if twin is not None else _peek_step(latest) > step
    if not later and not latest_later:
        return None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    branch = out / "branches" / f"{stamp}-after-{step:06d}"
    n = 1
    while branch.exists():
        n += 1
        branch = out / "branches" / f"{stamp}-after-{step:06d}-{n}"
    (branch / "checkpoints").mkdir(parents=True)
    moved = []
    for p in later + ([latest] if latest_later else []):
        os.replace(p, branch / "checkpoints" / p.name)
        moved.append(p.name)
    if resume_path is not None and Path(resume_path).parent.resolve() == ckpt_dir.resolve():
        replace_with_link(Path(resume_path), latest)
    stats = out / "stats.jsonl"
    if stats.exists():
        lines = stats.read_bytes().splitlines(keepends=True)
        past = [ln for ln in lines if _step_of(ln) > step]
        if past:
            atomic_write(branch / "stats.jsonl", lambda f: f.write(b"".join(past)))
            atomic_write(stats, lambda f: f.write(b"".join(ln for ln in lines
                                                            if _step_of(ln) <= step)))
    record = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "event": "branch",
              "resumed_from": str(resume_path) if resume_path is not None else None,
              "step": step, "abandoned": moved,
              "moved_to": str(branch.relative_to(out))}
    old = (out / "lineage.jsonl").read_text() if (out / "lineage.jsonl").exists() else ""
    atomic_write_text(out / "lineage.jsonl", old + json.dumps(record) + "\n")
    return branch


def _peek_step(path: Path) -> int:
    try:
        return int(load_checkpoint(path)["step"])
    except CheckpointError:
        return -1


def replace_with_link(src: Path, dst: Path) -> None:
    """Point ``dst`` at ``src``'s bytes atomically: hard link to a temp name, then rename."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # file systems without hard links: copy (still atomic via rename)
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as f:  # the copy's bytes reach the disk before the rename
            os.fsync(f.fileno())
    os.replace(tmp, dst)
