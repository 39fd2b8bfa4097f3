"""The journal file: one SQLite connection per process per file, WAL, short write transactions.

It holds every run's row and the entries of finished (and recovered) runs; an open run's entries
are in its log until it ends (``_runlog``). Durability model: WAL with ``synchronous=NORMAL``. A
commit is written to the WAL file with ``write()`` before ``COMMIT`` returns, so it survives the
death of the process (``kill -9``, a dead kernel) at any instant; an interrupted transaction is
simply absent (SQLite's atomic commit). It is not fsynced, so a power cut or an OS crash may lose
the last commits: that is out of scope (the journal answers "which side effects did my dead
kernel leave", not disk failures).

Writers take the write lock up front (``BEGIN IMMEDIATE``) and wait up to ``BUSY_TIMEOUT_S`` for
another process's transaction, so several processes can journal into one file at once.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synapse_steps.journal._checkpoint import BACKSTOP_PAGES, Checkpointer
from synapse_steps.journal._errors import JournalError
from synapse_steps.storage import sqlite
from synapse_steps.storage.sqlite import BUSY_TIMEOUT_S

SCHEMA_VERSION = 2
FILE_NAME = "journal.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    steps TEXT NOT NULL,
    meta TEXT NOT NULL,
    started_at REAL NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    status TEXT,
    finished_at REAL,
    log_size INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_unfinished ON runs(id) WHERE status IS NULL;
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    position INTEGER,
    name TEXT,
    success INTEGER,
    unstorable TEXT,
    completed_at REAL,
    started_index INTEGER,
    started_time REAL,
    duration REAL,
    finished_time REAL,
    rollback TEXT,
    rollback_error TEXT,
    rollback_calls INTEGER NOT NULL DEFAULT 0,
    data TEXT,
    rollback_data TEXT,
    records TEXT
);
"""

# One table holds a run's history: an entry is either a completed step (position is set) with
# the records buffered before it, or a batch of records alone (position is NULL), so the run's
# log folds into it row for row and it needs no separate records table nor secondary index.
# Entries are keyed by (run << 32) | the run's entry number, so a run's entries are one key
# range in order. ``records`` (a JSON array) is the last column, so listing steps never reads it.
# A completed step's StepStarted and StepFinished records are its columns ``started_index`` (where
# StepStarted goes among ``records``), ``started_time``, ``duration`` and ``finished_time`` (see
# ``_run``); NULL when they were journaled in ``records`` (schema version 1 did that always).
# ``runs.log_size``: how many bytes of the run's log (``_runlog``) are folded into ``entries``.

#: Statements that bring a journal of version N (the key) to N + 1, in the same transaction.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        "ALTER TABLE entries ADD COLUMN started_index INTEGER",
        "ALTER TABLE entries ADD COLUMN started_time REAL",
        "ALTER TABLE entries ADD COLUMN duration REAL",
        "ALTER TABLE entries ADD COLUMN finished_time REAL",
        "ALTER TABLE runs ADD COLUMN log_size INTEGER NOT NULL DEFAULT 0",
    ),
}
KEY_SHIFT = 32
MAX_INDEX = (1 << KEY_SHIFT) - 1


def row_key(run: int, index: int) -> int:
    """The ``id`` of a run's ``index``-th entry."""
    return (run << KEY_SHIFT) | index


def run_keys(run: int) -> tuple[int, int]:
    """The first and last ``id`` a run's entries can have (for ``BETWEEN``)."""
    return run << KEY_SHIFT, (run << KEY_SHIFT) | MAX_INDEX


def default_path() -> Path:
    """``<local store root>/journal.sqlite3`` (``$SYNAPSE_STEPS_HOME`` or the user data folder)."""
    # Imported here: the backends package is only needed when no path is given.
    from synapse_steps.backends._paths import default_root

    return default_root() / FILE_NAME


class Store:
    """This process's connection to one journal file; use it under ``lock`` (threads share it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid = os.getpid()
        self.lock = threading.RLock()
        self.conn = self._open()
        self.checkpointer = Checkpointer(path)
        #: Commits since the last background checkpoint was asked for (``JournalRun``).
        self.commits = 0

    def _open(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: `lock` guards the connection.
            conn = sqlite.connect(self.path, "NORMAL", check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            # Setting the pragmas reads the header: a file that is not a journal fails here.
            if not isinstance(exc, sqlite3.OperationalError):
                raise self.error(exc) from exc
            raise self._cannot_open(exc) from exc
        except (OSError, sqlite3.Error) as exc:
            raise self._cannot_open(exc) from exc
        try:
            try:
                sqlite.retry_while_locked(lambda: self._init_schema(conn), BUSY_TIMEOUT_S, 0.02)
            except sqlite3.DatabaseError as exc:
                raise self.error(exc) from exc
            # Checkpoints run in the background (see _checkpoint); this one is the backstop.
            conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _cannot_open(self, exc: BaseException) -> JournalError:
        return JournalError(
            f"Cannot open the run journal {self.path}: {exc}. Check that the folder is "
            "writable, or pass another journal path (or journal=False to run without one)."
        )

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        mode = sqlite.set_wal(conn)
        if mode != "wal":
            raise JournalError(
                f"The run journal {self.path} cannot use WAL mode (got {mode!r}); it "
                "needs a local file system. Pass a journal path on a local disk."
            )
        with sqlite.immediate(conn):
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise JournalError(
                    f"The run journal {self.path} has schema version {version}, newer "
                    f"than this synapse_steps understands ({SCHEMA_VERSION}); upgrade "
                    "synapse_steps or pass another journal path."
                )
            if version == 0:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            else:
                for old in range(version, SCHEMA_VERSION):
                    for statement in _MIGRATIONS[old]:
                        conn.execute(statement)
            if version < SCHEMA_VERSION:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def error(self, exc: BaseException) -> JournalError:
        return JournalError(
            f"Run journal {self.path}: {exc}. If another process holds it for more than "
            f"{BUSY_TIMEOUT_S:.0f}s, retry when it is done; if the file is damaged, move it "
            "away (a new journal is created in its place)."
        )

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (durable against a process kill) on a clean exit."""
        with self.lock:
            try:
                with sqlite.immediate(self.conn):
                    yield self.conn
            except sqlite3.Error as exc:
                raise self.error(exc) from exc

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across several SELECTs."""
        with self.lock:
            try:
                self.conn.execute("BEGIN")
                try:
                    yield self.conn
                finally:
                    if self.conn.in_transaction:
                        self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self.error(exc) from exc


_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()
# Connections inherited through fork() must not be used, nor closed (closing could release the
# parent's locks on some platforms): they are kept here, untouched, for the child's lifetime.
_inherited: list[Store] = []


def store_for(path: Path) -> Store:
    """This process's one ``Store`` for ``path``, opened (schema created) on first use."""
    key = os.path.abspath(path)
    with _stores_lock:
        store = _stores.get(key)
        if store is not None and store.pid == os.getpid():
            return store
        if store is not None:
            _inherited.append(store)
        store = Store(Path(key))
        _stores[key] = store
        return store
