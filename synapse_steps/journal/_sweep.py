"""Removing what runs leave behind in a journal's runs folder, and nothing else.

An empty log nobody holds is a leftover (older versions re-created the logs of runs they had
just stored); a log's hidden start file (``RunLock.create``) nobody holds, an hour old, was left
by a process killed while starting a run. A run being started is never seen with an empty log,
and a file with content is never removed here.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from synapse_steps.journal._lock import NEW_SUFFIX, RunLock, is_held


def linked(path: Path, fd: int) -> bool:
    """True if ``path`` is still the file open as ``fd`` (not removed since it was opened)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def sweep_empty(path: Path) -> None:
    """Remove the log at ``path`` if it is empty and nobody holds it: a leftover (older versions
    re-created the logs of runs just stored). A run being started is never seen with an empty
    log (``RunLock.create``), and a log with content is never removed here."""
    try:
        lock = RunLock.acquire(path)
    except FileNotFoundError:
        return
    if lock is None:
        return
    assert lock.fd is not None
    lock.release(remove=os.fstat(lock.fd).st_size == 0 and linked(path, lock.fd))


#: A log's hidden temporary file (``RunLock.create``) older than this, and not held, was left
#: by a process killed while starting a run: it is removed.
STALE_NEW_SECONDS = 3600.0


def sweep_new(folder: Path) -> None:
    """Remove the start files in ``folder`` older than ``STALE_NEW_SECONDS`` nobody holds."""
    for path in folder.glob(f".*.log{NEW_SUFFIX}"):
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= STALE_NEW_SECONDS and not is_held(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
