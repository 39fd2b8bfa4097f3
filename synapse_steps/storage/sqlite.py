"""How the package opens and writes SQLite files: the local store's index and the run journal.

* ``connect``: autocommit mode (``isolation_level=None``: every ``BEGIN``/``COMMIT`` is the
  caller's, so transactions stay short and explicit), a busy timeout so writers of several
  processes queue instead of failing, and the ``synchronous`` level the caller needs (the
  store's index ``FULL``: a row must not outlive a power cut without its files; the journal
  ``NORMAL``: it must survive a killed process, and a commit is in the WAL before it returns).
* ``set_wal``: WAL lets readers run while a writer commits.
* ``immediate``: a write transaction that takes the write lock up front (``BEGIN IMMEDIATE``),
  so two writers queue on the busy timeout instead of deadlocking when a reader upgrades.
* ``retry_while_locked``: switching a fresh file to WAL needs an exclusive lock that the busy
  handler does not always wait for, so processes opening a new file at once retry.

Errors are ``sqlite3`` exceptions: each caller turns them into its own error (``BackendError``,
``JournalError``) that names its file and what to do.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal, TypeVar

T = TypeVar("T")

BUSY_TIMEOUT_S = 30.0

Synchronous = Literal["NORMAL", "FULL"]


def connect(
    path: str | os.PathLike[str],
    synchronous: Synchronous,
    *,
    busy_timeout: float = BUSY_TIMEOUT_S,
    check_same_thread: bool = True,
) -> sqlite3.Connection:
    """A connection to ``path`` in autocommit mode, with the busy timeout and ``synchronous``.

    ``check_same_thread=False`` only for a connection the caller guards with its own lock.
    """
    if synchronous not in ("NORMAL", "FULL"):
        raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
    conn = sqlite3.connect(
        path, timeout=busy_timeout, isolation_level=None, check_same_thread=check_same_thread
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
    except BaseException:
        conn.close()
        raise
    return conn


def set_wal(conn: sqlite3.Connection) -> str:
    """Switch the file to WAL; returns the journal mode SQLite reports (``"wal"`` if it could)."""
    mode: str = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    return mode


@contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back if the body or the commit raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def is_locked(exc: BaseException) -> bool:
    """True for SQLite's "database is locked" (another connection holds the lock)."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def retry_while_locked(attempt: Callable[[], T], timeout: float, pause: float) -> T:
    """``attempt()``, called again after ``pause`` seconds while it raises "locked", for up to
    ``timeout`` seconds; then its error propagates (so does any other error at once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not is_locked(exc) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
