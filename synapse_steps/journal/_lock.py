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
    def create(cls, path: Path, first: bytes) -> RunLock:
        """A new log at ``path`` holding ``first`` (the run's header), locked.

        Written under a hidden temporary name, locked, then renamed into place: a log is never
        seen at ``path`` without its header or without its lock, so a reader may remove an
        empty log that nobody holds (a leftover) without racing a run being started.
        (``rename`` of an open file: POSIX only, as ``release(remove=True)``.)
        """
        tmp = path.with_name(f".{path.name}{NEW_SUFFIX}")
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileNotFoundError:  # the journal's first run (a mkdir per run costs ~50 us)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, flags, 0o644)
        try:
            if not _try_lock(fd):  # pragma: no cover - nobody else has this new file open
                raise BlockingIOError(f"{tmp} is locked by another process")
            written = 0
            while written < len(first):
                written += os.write(fd, first[written:])
            os.rename(tmp, path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return cls(path, fd)

    @classmethod
    def acquire(cls, path: Path) -> RunLock | None:
        """The lock of the existing log at ``path``, or ``None`` when another open descriptor
        (a live process) holds it. ``FileNotFoundError`` if there is no log: it is never
        created here (its owner removed it once the run was in the store; re-creating it would
        leave an empty log behind)."""
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
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


#: What ``RunLock.create`` appends to the hidden name a log is written under before it is
#: renamed into place.
NEW_SUFFIX = ".new"


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
