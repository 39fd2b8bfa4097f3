"""``Journal``: one journal file, the runs written into it and the recovery of dead ones."""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from synapse_steps.journal import _listing, _recovery
from synapse_steps.journal._codec import encode_records
from synapse_steps.journal._listing import RunInfo
from synapse_steps.journal._lock import RunLock
from synapse_steps.journal._recovery import RecoveryReport, Rollback
from synapse_steps.journal._run import JournalRun
from synapse_steps.journal._runlog import RUN, frame, log_path
from synapse_steps.journal._store import FILE_NAME, default_path, store_for

#: The host name written into each run's header (looked up once: ~50 us a call).
_HOST = socket.gethostname()


def resolve_path(path: str | os.PathLike[str] | None) -> Path:
    """The journal file for ``path``: the default store's, the file given, or a folder's own."""
    if path is None:
        return default_path()
    resolved = Path(path).expanduser()
    # A folder stands for the journal file inside it, like the default store root does.
    return resolved / FILE_NAME if resolved.is_dir() else resolved


class Journal:
    """A journal file (SQLite, WAL). Nothing is opened or created before the first write.

    ``path=None`` is ``<SYNAPSE_STEPS_HOME or the per-user data folder>/journal.sqlite3``; a
    folder means ``<folder>/journal.sqlite3``. Many processes and threads may use one file.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = resolve_path(path)

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    def start_run(
        self,
        workflow: str,
        steps: Iterable[str],
        started_at: float | datetime | None = None,
        meta: dict[str, Any] | None = None,
    ) -> JournalRun:
        """Open a run's journal (its log, written before returning) and take its lock.

        ``steps``: the planned step names, in order. ``started_at``: wall-clock time (epoch
        seconds or a datetime; default now). ``meta``: JSON-able extras kept with the run.
        """
        if isinstance(started_at, datetime):
            started = started_at.timestamp()
        else:
            started = time.time() if started_at is None else float(started_at)
        run_id = uuid.uuid4().hex
        store = store_for(self.path)
        header = (
            RUN,
            run_id,
            workflow,
            json.dumps([str(s) for s in steps]),
            encode_records([dict(meta or {})]),
            started,
            os.getpid(),
            _HOST,
        )
        data = frame(header)
        # From the moment the log exists it holds its header and is locked: the run is alive.
        try:
            lock = RunLock.create(log_path(self.path, run_id), data)
        except OSError as exc:
            raise store.error(exc) from exc
        return JournalRun(store, header, lock, len(data))

    def unfinished_runs(self) -> list[RunInfo]:
        """Runs never finished, recovered or abandoned, oldest first (see ``owner_alive``)."""
        return _listing.unfinished_runs(self.path)

    def recover_steps(self, run_id: str, rollback: Rollback) -> RecoveryReport:
        """Roll back a dead run's completed steps, newest first, calling
        ``rollback(step_name, data, rollback_data)`` for each; the run ends ``"recovered"``.

        Each step is marked durably before (``started``) and after (``done``) its rollback: a
        step marked done is never called again; one whose rollback started but never returned
        (recovery killed) is called again by the next recovery. Steps that could not be stored
        are skipped and reported. Raises ``JournalError`` for an unknown run, a run whose owner
        is alive, and a run already recovered, abandoned or finished.
        """
        return _recovery.recover_steps(self.path, run_id, rollback)

    def abandon(self, run_id: str) -> None:
        """Mark a dead run ``"abandoned"`` without rolling anything back."""
        _recovery.abandon(self.path, run_id)

    def records(self, run_id: str) -> list[dict[str, Any]]:
        """The records a run journaled, in order (progress coalesced)."""
        return _listing.run_records(self.path, run_id)
