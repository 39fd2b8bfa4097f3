"""The SQLite index of the local store.

One connection per operation: sqlite3 objects must not cross threads, and a short-lived
connection never holds a lock between operations, so several processes and threads can share
one store. Connections, WAL and the ``BEGIN IMMEDIATE`` write transactions are
``synapse_steps.storage.sqlite``'s (shared with the run journal).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from synapse_steps.errors import BackendError
from synapse_steps.storage import sqlite
from synapse_steps.storage.sqlite import BUSY_TIMEOUT_S

SCHEMA_VERSION = 1

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
            # FULL: a committed row must never outlive a power cut without its files, and vice
            # versa.
            conn = sqlite.connect(self.path, "FULL")
        except sqlite3.Error as exc:
            # Setting the pragmas reads the file's header: garbage fails here already.
            if _is_damage(exc):
                raise damaged(self.path, exc) from exc
            raise BackendError(
                f"Cannot open the local backend index {self.path}: {exc}. Check that the folder "
                "exists and is writable, or choose another root (SYNAPSE_STEPS_HOME)."
            ) from exc
        conn.row_factory = sqlite3.Row
        return conn

    def _init_schema(self) -> None:
        try:
            sqlite.retry_while_locked(self._create_schema, BUSY_TIMEOUT_S, 0.05)
        except sqlite3.Error as exc:
            if _is_damage(exc):
                raise damaged(self.path, exc) from exc
            raise BackendError(
                f"Cannot initialise the local backend index {self.path}: {exc}."
            ) from exc

    def _create_schema(self) -> None:
        with closing(self._connect()) as conn:
            sqlite.set_wal(conn)
            with sqlite.immediate(conn):
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
            with closing(self._connect()) as conn, sqlite.immediate(conn):
                yield conn
        except sqlite3.Error as exc:
            if _is_damage(exc):
                raise damaged(self.path, exc) from exc
            raise BackendError(
                f"Local backend index {self.path}: {exc}. Another process may hold the store "
                f"for more than {BUSY_TIMEOUT_S:.0f}s; retry when it is done."
            ) from exc
