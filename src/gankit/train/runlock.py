"""One trainer per run folder: an exclusive lock on ``OUT/.lock``.

Two trainers writing the same folder interleave ``stats.jsonl`` and prune each other's
checkpoints. The lock is ``flock`` on a file in the folder, so the kernel releases it when the
holder exits or dies: a lock left by a killed run is taken over without a stale-lock check.
The file names its holder while held and is emptied on release, so a command that fails
leaves the folder's bytes as they were. Where ``flock`` does not exist (Windows) runs are not
locked.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from gankit.errors import TrainingError

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, out: Path):
        self.out = Path(out)
        self._fh = None
        self._created = False

    def acquire(self) -> RunLock:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            return self
        try:
            if not self.out.exists():
                self.out.mkdir(parents=True)
                self._created = True
            fh = open(self.out / LOCK_NAME, "a+")  # noqa: SIM115 - held until release()
        except OSError as e:
            raise TrainingError(f"cannot write to the run folder {self.out}: "
                                f"{e.strerror or e}; choose a writable --out") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read(300).strip() or "another process"
            fh.close()
            raise TrainingError(f"{self.out} is in use by {holder}; wait for that run to end or "
                                f"choose another --out (nothing was changed)") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"gankit (pid {os.getpid()} on {socket.gethostname()}, since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is None:
            return
        try:
            fh.seek(0)
            fh.truncate()
            fh.flush()
            import fcntl

            # unlock explicitly: processes forked meanwhile (DataLoader workers of a streamed
            # data set) share the file description, and closing ours alone would not release it
            fcntl.flock(fh, fcntl.LOCK_UN)
        finally:
            fh.close()
        if self._created:  # a folder this lock made and nothing else wrote to goes again
            try:
                if [p.name for p in self.out.iterdir()] == [LOCK_NAME]:
                    (self.out / LOCK_NAME).unlink()
                    self.out.rmdir()
            except OSError:
                pass

    @property
    def held(self) -> bool:
        return self._fh is not None
