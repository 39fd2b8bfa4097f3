"""The journal file: one SQLite connection per process per file, WAL, short write transactions.

It keeps the runs that ended: one row each, with the run's whole log (``_runlog``) as a value. A
run in progress, or whose process died, lives in its log file until it ends (or is recovered or
abandoned), so a run writes to SQLite once, when it ends: one row, where one row per step cost
~6 us a step more (measured on the 2-core test VM).

Durability model: WAL with ``synchronous=NORMAL``. A commit is written to the WAL file with
``write()`` before ``COMMIT`` returns, so it survives the death of the process (``kill -9``, a
dead kernel) at any instant; an interrupted transaction is simply absent (SQLite's atomic
commit). It is not fsynced, so a power cut or an OS crash may lose the last commits: that is out
of scope (the journal answers "which side effects did my dead kernel leave", not disk failures).

Writers take the write lock up front (``BEGIN IMMEDIATE``) and wait up to ``BUSY_TIMEOUT_S`` for
another process's transaction, so several processes can write into one file at once.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from synapse_steps.journal._checkpoint import BACKSTOP_PAGES, Checkpointer
from synapse_steps.journal._errors import JournalError
from synapse_steps.journal._lock import RunLock
from synapse_steps.journal._migrate import from_version_1
from synapse_steps.journal._runlog import RunLog, log_dir
from synapse_steps.storage import sqlite
from synapse_steps.storage.sqlite import BUSY_TIMEOUT_S

SCHEMA_VERSION = 2
#: Below this many free bytes on its disk, a journal that cannot be opened or written is
#: reported as on a full disk (a WAL commit needs a few pages; the shared-memory file 32 KB).
_FULL_BELOW = 64 * 1024
FILE_NAME = "journal.sqlite3"

_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    started_at REAL NOT NULL,
    status TEXT NOT NULL,
    finished_at REAL NOT NULL,
    log BLOB NOT NULL
);
CREATE INDEX runs_by_workflow ON runs(workflow, id);
"""
# ``log`` is the last column: listing runs never reads it.


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
        #: Which file ``conn`` has open (device, inode): see ``_follow_file``.
        self.file_id = _file_id(path)
        self.checkpointer = Checkpointer(path)
        #: Bytes of run logs stored since the last background checkpoint was asked for.
        self.stored = 0
        #: Runs this process ended that the store does not keep yet, with their locks (held
        #: until they are stored: see ``_run.keep_ended``).
        self.ended: list[tuple[RunLog, RunLock]] = []

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
        full = self._disk_full()
        if full is not None:
            return JournalError(f"Cannot open the run journal {self.path}: {exc}. {full}")
        return JournalError(
            f"Cannot open the run journal {self.path}: {exc}. Check that the folder is "
            "writable, or pass another journal path (or journal=False to run without one)."
        )

    def _disk_full(self) -> str | None:
        """What to say when the disk holding the journal is full (SQLite may only report a
        "disk I/O error"), or None when it has room."""
        try:
            free = shutil.disk_usage(self.path.parent).free
        except OSError:
            return None
        if free >= _FULL_BELOW:
            return None
        return (
            f"The disk it is on is full ({free} bytes free). Nothing was lost: the runs' logs "
            f"in {log_dir(self.path)} are as they were. Free some space, then retry."
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
            if version < SCHEMA_VERSION:
                if version == 1:
                    conn.execute("ALTER TABLE runs RENAME TO runs_v1")
                    conn.execute("ALTER TABLE entries RENAME TO entries_v1")
                    conn.execute("DROP INDEX IF EXISTS runs_unfinished")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if version == 1:
                    from_version_1(conn, self.path)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def error(self, exc: BaseException) -> JournalError:
        full = self._disk_full()
        if full is not None:
            return JournalError(f"Run journal {self.path}: {exc}. {full}")
        name = self.path.name
        return JournalError(
            f"Run journal {self.path}: {exc}. If another process holds it for more than "
            f"{BUSY_TIMEOUT_S:.0f}s, retry when it is done; if the file is damaged, move it "
            f"away, with {name}-wal and {name}-shm next to it if they are there (a new journal "
            f"is created in its place). Keep the folder {log_dir(self.path)}: it holds the "
            "runs in progress and those whose process died, which stay listed by "
            "unfinished_runs() and recoverable; only the ended runs stay in the moved file."
        )

    def _follow_file(self) -> None:
        """Reopen the connection if the file at ``path`` is not the one it has open any more
        (moved away or replaced, e.g. a damaged journal moved aside as ``error`` advises): what
        is written from then on goes to the file at ``path``, never to the moved one."""
        current = _file_id(self.path)
        if current is not None and current == self.file_id:
            return
        old, self.conn = self.conn, self._open()  # raises if the new one cannot be opened
        self.file_id = _file_id(self.path)
        with contextlib.suppress(sqlite3.Error):
            old.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed (durable against a process kill) on a clean exit."""
        with self.lock:
            self._follow_file()
            try:
                with sqlite.immediate(self.conn):
                    yield self.conn
            except sqlite3.Error as exc:
                raise self.error(exc) from exc

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: a consistent snapshot across several SELECTs."""
        with self.lock:
            self._follow_file()
            try:
                self.conn.execute("BEGIN")
                try:
                    yield self.conn
                finally:
                    if self.conn.in_transaction:
                        self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise self.error(exc) from exc


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


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


def open_stores() -> list[Store]:
    """This process's stores (those opened by this process, not inherited through fork)."""
    with _stores_lock:
        return [store for store in _stores.values() if store.pid == os.getpid()]
