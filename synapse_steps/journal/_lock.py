"""Per-run lock files: "is the process that owns this run still alive?".

The writer of a run holds an exclusive lock on its log file, ``<journal>-runs/<run_id>.log``
(see ``_runlog``), for as long as the run is open. The operating system releases it when the
process dies, however it dies, so a lock that can be taken means the owner is gone (a pid alone
could have been reused). Recovery and ``abandon`` hold the same lock while they work, so two of
them never act on one run at once.

POSIX ``flock`` (released on the last close of the descriptor, so a forked child that keeps it
open keeps the run alive, as it is still part of the run) and ``msvcrt.locking`` on Windows.
Both need a local file system: network file systems may not honour them.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

if sys.platform == "win32":  # pragma: no cover - not exercised on the Linux CI
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


class RunLock:
    """An exclusive lock on one run's log file, held until ``release``.

    ``fd`` is open for appending: the run's owner writes its log through it.
    """

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path) -> RunLock | None:
        """The lock, or ``None`` when another open descriptor (a live process) holds it.

        A missing file is created: its owner removed it once the run's log was in the store
        (the run's status then says so), or died before the run's header was written.
        """
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND
        try:
            fd = os.open(path, flags, 0o644)
        except FileNotFoundError:  # the journal's first run (a mkdir per run costs ~50 us)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, flags, 0o644)
        if not _try_lock(fd):
            os.close(fd)
            return None
        return cls(path, fd)

    def release(self, remove: bool) -> None:
        """Give the lock up; ``remove`` deletes the file first (the run is over for good)."""
        if self.fd is None:
            return
        if remove:
            # Unlinked while still locked: anyone who opened it before waits on a file nobody
            # will hold again and then re-reads the run's status, which says it is over.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        fd, self.fd = self.fd, None
        os.close(fd)


def is_held(path: Path) -> bool:
    """True when a live process holds the lock at ``path`` (a missing file is not held)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        return not _try_lock(fd)
    finally:
        # Closing drops the lock we may just have taken.
        os.close(fd)
