"""The SQLite index of the local store.

One connection per operation: sqlite3 objects must not cross threads, and a short-lived
connection never holds a lock between operations, so several processes and threads can share
one store. WAL lets readers run while a writer commits; writes take the lock up front
(``BEGIN IMMEDIATE``) so two writers queue on ``busy_timeout`` instead of deadlocking on upgrade.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from synapse_steps.errors import BackendError

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    format TEXT NOT NULL,
    source_format TEXT NOT NULL,
    source_path TEXT NOT NULL,
    is_categorized INTEGER NOT NULL,
    splits TEXT NOT NULL,
    count INTEGER NOT NULL,
    skipped TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS models (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    file_name TEXT NOT NULL,
    original_file TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


def damaged(path: Path, exc: sqlite3.Error) -> BackendError:
    """The error for an index SQLite cannot read; nothing is deleted in that case."""
    return BackendError(
        f"The local store index {path} is damaged or is not a SQLite file ({exc}). Nothing was "
        f"deleted: the datasets and models under {path.parent} are kept. Move the index aside "
        f"(e.g. rename it to {path.name}.damaged) and open the store again; the folders are then "
        "listed by backend.unindexed() and re-imported with backend.reindex(path)."
    )


def _is_damage(exc: sqlite3.Error) -> bool:
    # OperationalError covers locks, busy and I/O; the rest (DatabaseError proper) is a bad file.
    if isinstance(exc, sqlite3.OperationalError):
        return "malformed" in str(exc) or "not a database" in str(exc)
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError)


class Index:
    """Connections to ``path``; the schema is created on construction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._init_schema()

    def _connect(self) -> sqlite3.Connection:
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so transactions stay short
            # and explicit instead of being opened implicitly by the sqlite3 module.
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise BackendError(
                f"Cannot open the local backend index {self.path}: {exc}. Check that the folder "
                "exists and is writable, or choose another root (SYNAPSE_STEPS_HOME)."
            ) from exc
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # FULL: a committed row must never outlive a power cut without its files, and vice versa.
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _init_schema(self) -> None:
        # Switching to WAL needs an exclusive lock that the busy handler does not always wait
        # for, so two processes opening a fresh store at once retry here.
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                with closing(self._connect()) as conn:
                    conn.execute("PRAGMA journal_mode = WAL")
                    with self._transaction(conn):
                        version = conn.execute("PRAGMA user_version").fetchone()[0]
                        if version > SCHEMA_VERSION:
                            raise BackendError(
                                f"The index {self.path} has schema version {version}, newer than "
                                f"this synapse_steps understands ({SCHEMA_VERSION}); upgrade "
                                "synapse_steps or use another root."
                            )
                        # Not executescript(): it would COMMIT our transaction first.
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                return
            except sqlite3.Error as exc:
                if _is_damage(exc):
                    raise damaged(self.path, exc) from exc
                locked = isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)
                if not locked or time.monotonic() > deadline:
                    raise BackendError(
                        f"Cannot initialise the local backend index {self.path}: {exc}."
                    ) from exc
                time.sleep(0.05)

    @staticmethod
    @contextmanager
    def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection for reads; closed on exit."""
        try:
            with closing(self._connect()) as conn:
                yield conn
        except sqlite3.Error as exc:
            if _is_damage(exc):
                raise damaged(self.path, exc) from exc
            raise BackendError(f"Local backend index {self.path}: {exc}.") from exc

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the store's write lock; committed on a clean exit only."""
        try:
            with closing(self._connect()) as conn, self._transaction(conn):
                yield conn
        except sqlite3.Error as exc:
            if _is_damage(exc):
                raise damaged(self.path, exc) from exc
            raise BackendError(
                f"Local backend index {self.path}: {exc}. Another process may hold the store "
                f"for more than {BUSY_TIMEOUT_S:.0f}s; retry when it is done."
            ) from exc
