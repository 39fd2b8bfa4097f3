"""Reading journals back: unfinished runs, their recovery (rollback from the journal), abandon.

"Never rolled back twice" rests on two durable marks per step: ``rollback = 'started'`` is
committed before the rollback is called and ``'done'`` after it returns. A recovery killed in
between leaves ``'started'``: the next recovery calls that rollback again (rollbacks are
documented to be idempotent), while a ``'done'`` step is never called again. Recovery holds the
run's lock, so it cannot run while the owner is alive nor twice at once, and it ends by setting
the run's status to ``'recovered'``, after which ``recover_steps`` refuses the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from synapse_steps.events import StepFinished, StepStarted, to_dict
from synapse_steps.journal._codec import decode
from synapse_steps.journal._errors import JournalError
from synapse_steps.journal._lock import RunLock, is_held
from synapse_steps.journal._metric_batch import expand
from synapse_steps.journal._runlog import ENTRY_COLUMNS, apply, fold, log_path, read_ops
from synapse_steps.journal._store import Store, run_keys, store_for

#: ``rollback(step_name, data, rollback_data)``: undo one step from its journaled result.
Rollback = Callable[[str, dict[str, Any], dict[str, Any]], None]


def _when(epoch: float) -> datetime:
    # Aware local time: unambiguous when printed, comparable across machines.
    return datetime.fromtimestamp(epoch).astimezone()


@dataclass(frozen=True)
class CompletedStep:
    """A step whose result was journaled (``step_completed`` returned)."""

    position: int
    name: str
    success: bool
    #: False when some value of its result could not be stored (see ``unstorable``).
    recoverable: bool
    #: Where the values the journal could not store were, e.g. ``"rollback_data['fh']: ..."``.
    unstorable: tuple[str, ...]
    completed_at: datetime
    #: ``None``: not rolled back; ``"started"``: a rollback began and did not return;
    #: ``"done"``: its rollback returned (with ``rollback_error`` if it raised).
    rollback: str | None
    rollback_error: str | None


@dataclass(frozen=True)
class RunInfo:
    """An unfinished run, as ``unfinished_runs`` lists it."""

    run_id: str
    workflow: str
    started_at: datetime
    #: Every step the run planned, in order.
    steps: tuple[str, ...]
    #: The steps whose results were journaled, in order.
    completed_steps: tuple[CompletedStep, ...]
    pid: int
    host: str
    #: True while the owning process lives: such a run is running, not crashed, and
    #: ``recover_steps`` / ``abandon`` refuse it.
    owner_alive: bool
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def to_roll_back(self) -> tuple[str, ...]:
        """The steps ``recover_steps`` would roll back, in the order it would."""
        return tuple(
            s.name for s in reversed(self.completed_steps) if s.rollback != "done" and s.recoverable
        )


@dataclass(frozen=True)
class RecoveryReport:
    """What ``recover_steps`` did, step names newest first."""

    run_id: str
    #: Rollbacks called by this recovery that returned (see ``errors`` for those that raised).
    rolled_back: tuple[str, ...]
    #: Among ``rolled_back``: steps whose rollback had started in an earlier, killed attempt.
    retried: tuple[str, ...]
    #: ``"<step>: <error>"`` for each rollback that raised; it is not retried.
    errors: tuple[str, ...]
    #: Steps skipped because their result could not be stored: undo them by hand.
    not_recoverable: tuple[str, ...]
    #: Steps rolled back before (by the run itself or an earlier recovery): not called again.
    already_rolled_back: tuple[str, ...]


#: An entry's columns as read here: those of the run's log, then its rollback state.
_COLUMNS = (*ENTRY_COLUMNS, "rollback", "rollback_error")


def _entries(
    conn: Any, journal: Path, run_id: str, key: int, log_size: int | None
) -> list[dict[str, Any]]:
    """A run's entries, oldest first: the store's and, given the ``log_size`` folded in so far
    (``None``: the run ended, its log is all in the store), what its log holds beyond it."""
    rows = conn.execute(
        f"SELECT {', '.join(_COLUMNS)} FROM entries WHERE id BETWEEN ? AND ? ORDER BY id",
        run_keys(key),
    )
    entries = {row[0]: dict(zip(_COLUMNS, row, strict=True)) for row in rows}
    if log_size is not None:
        apply(entries, read_ops(log_path(journal, run_id), log_size)[0])
    return [entries[entry_id] for entry_id in sorted(entries)]


def _step(entry: dict[str, Any]) -> CompletedStep:
    unstorable = tuple(json.loads(entry["unstorable"])) if entry["unstorable"] else ()
    return CompletedStep(
        position=entry["position"],
        name=entry["name"],
        success=bool(entry["success"]),
        recoverable=not unstorable,
        unstorable=unstorable,
        completed_at=_when(entry["completed_at"]),
        rollback=entry["rollback"],
        rollback_error=entry["rollback_error"],
    )


def unfinished_runs(journal: Path) -> list[RunInfo]:
    """Runs of ``journal`` that never reached ``finish`` (nor recovery/abandon), oldest first."""
    if not journal.exists():
        return []
    store = store_for(journal)
    with store.read() as conn:
        runs = conn.execute(
            "SELECT id, run_id, workflow, steps, meta, started_at, pid, host, log_size FROM runs "
            "WHERE status IS NULL ORDER BY started_at, id"
        ).fetchall()
        steps = {
            row[0]: [
                _step(entry)
                for entry in _entries(conn, journal, row[1], row[0], row[8])
                if entry["position"] is not None
            ]
            for row in runs
        }
    return [
        RunInfo(
            run_id=row[1],
            workflow=row[2],
            started_at=_when(row[5]),
            steps=tuple(json.loads(row[3])),
            completed_steps=tuple(steps[row[0]]),
            pid=row[6],
            host=row[7],
            owner_alive=is_held(log_path(journal, row[1])),
            meta=decode(row[4])[0],
        )
        for row in runs
    ]


def _locked_run(journal: Path, run_id: str, action: str) -> tuple[Store, int, RunLock]:
    """The run's key and its lock, after checking it exists, is unfinished and is not owned;
    its log is folded into the store (so from here on the store holds all of its entries)."""
    if not journal.exists():
        raise JournalError(
            f"Cannot {action} run {run_id!r}: there is no run journal at {journal}. Pass the "
            "journal path the run was started with (path=...)."
        )
    store = store_for(journal)
    with store.read() as conn:
        row = conn.execute(
            "SELECT id, workflow, pid, host FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
    if row is None:
        raise JournalError(
            f"Cannot {action} run {run_id!r}: the journal {journal} has no such run. "
            "unfinished_runs() lists the runs that can be recovered or abandoned."
        )
    lock = RunLock.acquire(log_path(journal, run_id))
    if lock is None:
        raise JournalError(
            f"Cannot {action} run {run_id!r} (workflow '{row[1]}'): it is still running in "
            f"process {row[2]} on {row[3]}, or another process is recovering or abandoning it "
            "right now. Wait for it to end (or stop that kernel), then retry."
        )
    status: str | None = None
    try:
        # Re-read under the lock: another recovery may have finished just before we got it.
        with store.write() as conn:
            status, log_size = conn.execute(
                "SELECT status, log_size FROM runs WHERE id = ?", (row[0],)
            ).fetchone()
            if status is None:
                # Its owner is dead and we hold the lock: nothing is appended to the log now.
                ops, end = read_ops(lock.path, log_size)
                if ops:
                    fold(conn, row[0], ops, end)
        if status is not None:
            what = {
                "recovered": "was already recovered: its steps are never rolled back twice",
                "abandoned": "was abandoned",
            }.get(status, f"finished normally with status {status!r}")
            raise JournalError(
                f"Cannot {action} run {run_id!r} (workflow '{row[1]}'): it {what}. "
                "unfinished_runs() lists the runs that can still be recovered."
            )
    except BaseException:
        # A run that is over needs no lock file (acquire just re-created it).
        lock.release(remove=status is not None)
        raise
    return store, row[0], lock


def _decode_result(run_id: str, name: str, text: str) -> dict[str, Any]:
    try:
        value = decode(text)
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(
            f"The journaled result of step '{name}' in run {run_id!r} cannot be read ({exc}); "
            "the journal file was modified by something else. Undo that step by hand and "
            "abandon() the run."
        ) from exc
    if not isinstance(value, dict):
        raise JournalError(f"The journaled result of step '{name}' in run {run_id!r} is damaged.")
    return value


def recover_steps(journal: Path, run_id: str, rollback: Rollback) -> RecoveryReport:
    """Roll back a dead run's completed steps, newest first, from the journal; see the module."""
    store, key, lock = _locked_run(journal, run_id, "recover")
    done = False
    try:
        with store.read() as conn:
            entries = _entries(conn, journal, run_id, key, None)
        rolled_back: list[str] = []
        retried: list[str] = []
        errors: list[str] = []
        not_recoverable: list[str] = []
        already: list[str] = []
        for entry in reversed(entries):
            if entry["position"] is None:
                continue
            step = _step(entry)
            if step.rollback == "done":
                already.append(step.name)
                continue
            if not step.recoverable:
                not_recoverable.append(step.name)
                continue
            data = _decode_result(run_id, step.name, entry["data"])
            rollback_data = _decode_result(run_id, step.name, entry["rollback_data"])
            _mark(store, entry["id"], "started")
            try:
                rollback(step.name, data, rollback_data)
            except Exception as exc:
                # Like the orchestrator: a failing rollback is reported, the others still run.
                # (An interrupt propagates and leaves 'started': the next recovery retries it.)
                error: str | None = f"{type(exc).__name__}: {exc}"
                errors.append(f"{step.name}: {error}")
            else:
                error = None
            _mark(store, entry["id"], "done", error)
            rolled_back.append(step.name)
            if step.rollback == "started":
                retried.append(step.name)
        _set_status(store, key, "recovered")
        done = True
    finally:
        lock.release(remove=done)
    return RecoveryReport(
        run_id=run_id,
        rolled_back=tuple(rolled_back),
        retried=tuple(retried),
        errors=tuple(errors),
        not_recoverable=tuple(not_recoverable),
        already_rolled_back=tuple(already),
    )


def abandon(journal: Path, run_id: str) -> None:
    """Mark a dead run abandoned: nothing is rolled back and it is never offered again."""
    store, key, lock = _locked_run(journal, run_id, "abandon")
    done = False
    try:
        _set_status(store, key, "abandoned")
        done = True
    finally:
        lock.release(remove=done)


def _mark(store: Store, entry: int, state: str, error: str | None = None) -> None:
    with store.write() as conn:
        if state == "started":
            conn.execute(
                "UPDATE entries SET rollback = 'started', rollback_calls = rollback_calls + 1 "
                "WHERE id = ?",
                (entry,),
            )
        else:
            conn.execute(
                "UPDATE entries SET rollback = 'done', rollback_error = ? WHERE id = ?",
                (error, entry),
            )


def _set_status(store: Store, key: int, status: str) -> None:
    with store.write() as conn:
        conn.execute(
            "UPDATE runs SET status = ?, finished_at = ? WHERE id = ?", (status, time.time(), key)
        )


def run_records(journal: Path, run_id: str) -> list[dict[str, Any]]:
    """The records a run journaled, in order (coalesced progress included)."""
    if not journal.exists():
        raise JournalError(f"There is no run journal at {journal}; pass the path the run used.")
    store = store_for(journal)
    with store.read() as conn:
        row = conn.execute(
            "SELECT id, status, log_size FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise JournalError(f"The journal {journal} has no run {run_id!r}.")
        entries = _entries(conn, journal, run_id, row[0], row[2] if row[1] is None else None)
    try:
        return expand(record for entry in entries for record in _entry_records(entry))
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(
            f"The records of run {run_id!r} in {journal} cannot be read ({exc}); the journal "
            "file was modified by something else."
        ) from exc


def _entry_records(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """An entry's records, with its step's StepStarted / StepFinished put back from columns."""
    position, name, body = entry["position"], entry["name"], entry["records"]
    started_index, started_time = entry["started_index"], entry["started_time"]
    duration, finished_time = entry["duration"], entry["finished_time"]
    records: list[dict[str, Any]] = [] if body is None else decode(body)
    if type(records) is not list:
        raise ValueError("an entry's records are not a list")
    if started_index is not None:
        if not 0 <= started_index <= len(records):
            raise ValueError(f"a StepStarted index {started_index} out of range")
        records.insert(started_index, to_dict(StepStarted(position, name, started_time)))
    if finished_time is not None:
        records.append(to_dict(StepFinished(position, name, duration, finished_time)))
    return records
