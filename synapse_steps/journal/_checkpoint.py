"""Copying the journal's WAL into its database file in a background thread.

A WAL checkpoint syncs the WAL and the database file to disk: on the test VM's ext4 disk that
takes 20-140 ms of wall clock, and SQLite's default (a checkpoint inside whichever commit makes
the WAL reach 1,000 pages) would put that stall into whichever run ends at that moment. Here the
writer's connection checkpoints only as a backstop (``BACKSTOP_PAGES``), and a thread with its own
connection checkpoints when asked: once ``CHECKPOINT_BYTES`` of run logs were stored since the
last (runs are written to the store when they end, so that is when it grows).

Durability does not depend on checkpoints: a commit is in the WAL file (``write()`` before
``COMMIT`` returns) and a process that dies at any point, during a checkpoint too, leaves a WAL
the next opener replays (SQLite's design). A checkpoint only bounds the WAL's size.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from pathlib import Path

from synapse_steps.storage import sqlite

#: The writer's own (synchronous) checkpoint happens when the WAL reaches this many pages
#: (~16 MB of 4 KB pages). It only matters when runs end back to back faster than the
#: background checkpoints go: the WAL can then only start over after a checkpoint by the writer.
BACKSTOP_PAGES = 4000
#: When a run has been stored, a checkpoint is asked for if this many bytes of run logs were
#: stored since the last (~250 pages).
CHECKPOINT_BYTES = 1_000_000
#: An idle checkpoint thread ends after this long (started again on the next request): a
#: process forked while it lives is multi-threaded (Python 3.12 warns about that), and a
#: process that touched many journals keeps no threads for them.
IDLE_SECONDS = 0.5


class Checkpointer:
    """Runs ``PRAGMA wal_checkpoint(PASSIVE)`` on ``path`` in a thread when ``request``-ed.

    PASSIVE never waits for, nor blocks, the writers and readers of the file; what it cannot
    copy now is copied by a later checkpoint. Failures are ignored: the writer's backstop
    checkpoint still bounds the WAL. Each checkpoint opens and closes its own connection.

    ``os.fork()`` waits for a checkpoint in progress (see ``_before_fork``): a child forked
    while the thread is inside SQLite could inherit one of SQLite's process-wide mutexes locked
    and hang on its first SQLite call (a DataLoader worker that opens the store, say).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wake = threading.Event()
        self._lock = threading.Lock()
        #: Held while the thread is inside SQLite.
        self._running = threading.Lock()
        self._thread: threading.Thread | None = None
        #: Checkpoints this checkpointer ran (for tests and benchmarks).
        self.done = 0
        _ALL.add(self)

    def request(self) -> None:
        """Checkpoint soon, in the background (returns at once)."""
        with self._lock:
            self._wake.set()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"journal-checkpoint {self.path.name}", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while True:
            if not self._wake.wait(IDLE_SECONDS):
                with self._lock:
                    if not self._wake.is_set():
                        self._thread = None
                        return
            self._wake.clear()
            with self._running:
                self._checkpoint()

    def _checkpoint(self) -> None:
        try:
            conn = sqlite.connect(self.path, "NORMAL", busy_timeout=1.0)
        except sqlite3.Error:
            return
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.done += 1
        except sqlite3.Error:
            pass
        finally:
            conn.close()

    def _reset_in_child(self) -> None:
        # The thread does not exist in the child; locks may have been copied held.
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._running = threading.Lock()
        self._thread = None


_ALL: weakref.WeakSet[Checkpointer] = weakref.WeakSet()
_HELD: list[Checkpointer] = []


def _before_fork() -> None:
    # Wait for checkpoints in progress (tens of ms at most) and keep new ones from starting.
    _HELD[:] = list(_ALL)
    for checkpointer in _HELD:
        checkpointer._running.acquire()


def _after_fork_in_parent() -> None:
    for checkpointer in _HELD:
        checkpointer._running.release()
    _HELD.clear()


def _after_fork_in_child() -> None:
    for checkpointer in _ALL:
        checkpointer._reset_in_child()
    _HELD.clear()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )
