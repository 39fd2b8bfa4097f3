"""Reading a journal's runs back: the runs that never ended (``unfinished_runs``,
``run_info``) and the records a run journaled (``run_records``).

A run in progress or dead is its log file (``_runlog``); a run that ended is kept in the store
(``_kept``). Reading a run that ended but whose process died before the store kept it stores it
on the way (``store_ended``). A log whose frames are whole but whose values are impossible
(written by something else) is named in a ``JournalError``; it never hides another run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from synapse_steps._text import error_text
from synapse_steps.events import StepFinished, StepStarted, to_dict
from synapse_steps.journal._codec import decode
from synapse_steps.journal._errors import JournalError
from synapse_steps.journal._kept import store_run, stored_log
from synapse_steps.journal._lock import RunLock, is_held
from synapse_steps.journal._metric_batch import expand
from synapse_steps.journal._run import keep_ended
from synapse_steps.journal._run_started import expand as expand_run_started
from synapse_steps.journal._runlog import RunLog, log_dir, log_path, parse_log, read_log
from synapse_steps.journal._store import store_for
from synapse_steps.journal._sweep import sweep_empty, sweep_new


def journaled(journal: Path) -> bool:
    """True once a run was journaled at ``journal``: its SQLite file or its runs folder exists.

    The folder alone counts: runs in progress and dead ones live there, so they stay listable
    and recoverable when the SQLite file is missing (a damaged one moved away, as its error
    advises): the store is then created anew.
    """
    return journal.exists() or log_dir(journal).is_dir()


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
    #: ``"done"``: its rollback ran to its end: it returned, or it raised ``rollback_error``
    #: (then the step is not rolled back; it is never called again either).
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


def completed_step(entry: dict[str, Any]) -> CompletedStep:
    """A step's entry (``RunLog.entries``) as listed; raises for impossible values."""
    name, success, unstorable = entry["name"], entry["success"], entry["unstorable"]
    problems = json.loads(unstorable) if unstorable else []
    if type(name) is not str or success is None:
        raise ValueError(f"step entry {entry['id']} has no name or no outcome")
    if type(problems) is not list or not all(type(p) is str for p in problems):
        raise ValueError(f"step {name!r}: its unstorable values are not a list of texts")
    return CompletedStep(
        position=entry["position"],
        name=name,
        success=bool(success),
        recoverable=not problems,
        unstorable=tuple(problems),
        completed_at=_when(entry["completed_at"]),
        rollback=entry["rollback"],
        rollback_error=entry["rollback_error"],
    )


def info_of(log: RunLog, owner_alive: bool) -> RunInfo:
    """What ``unfinished_runs`` lists of a run's log; raises (anything: ``ValueError``,
    ``OverflowError`` ...) for a log that holds impossible values (see ``unreadable``)."""
    header = log.header
    assert header is not None
    _kind, run_id, workflow, steps, meta, started_at, pid, host = header
    planned = json.loads(steps)
    if type(planned) is not list or not all(type(name) is str for name in planned):
        raise ValueError("its planned steps are not a list of names")
    extras = decode(meta)
    if type(extras) is not list or len(extras) != 1 or type(extras[0]) is not dict:
        raise ValueError("its meta is not one dict")
    return RunInfo(
        run_id=run_id,
        workflow=workflow,
        started_at=_when(started_at),
        steps=tuple(planned),
        completed_steps=tuple(
            completed_step(entry) for entry in log.entries() if entry["position"] is not None
        ),
        pid=pid,
        host=host,
        owner_alive=owner_alive,
        meta=extras[0],
    )


def unreadable(path: Path, exc: BaseException) -> str:
    """How a log that cannot be read is named in an error: its file and what is wrong in it.

    Its frames are whole (checksums match), but a value in them is impossible (a time of
    1e300, a tagged value holding garbage): something other than this package wrote it. Any
    exception reading it means that, so callers catch ``Exception`` around their reading only.
    """
    return f"{path} cannot be read ({error_text(exc)})"


def run_info(journal: Path, run_id: str) -> RunInfo | None:
    """The unfinished run ``run_id`` as ``unfinished_runs`` would list it, read from its own
    log alone (None: no such log, or it ended); ``JournalError`` names a log that cannot be
    read. Other runs' logs are not read, so one unreadable log never hides another run."""
    if journaled(journal):
        keep_ended(store_for(journal))  # see unfinished_runs (an older file's runs become logs)
    path = log_path(journal, run_id)
    log = read_log(path)
    if log.header is None or log.finish is not None:
        return None
    try:
        return info_of(log, is_held(path))
    except Exception as exc:
        raise JournalError(
            f"The run log {unreadable(path, exc)}: it was written by something "
            "else. The run it names cannot be recovered from it: undo its steps by hand, then "
            f"abandon({run_id!r}) it."
        ) from exc


def unfinished_runs(journal: Path) -> list[RunInfo]:
    """Runs of ``journal`` that never reached ``finish`` (nor recovery/abandon), oldest first.

    A run that ended but whose process died before the store kept it is stored now. Logs that
    cannot be read are named, all of them, in one ``JournalError`` (after the others were
    read, so the ended ones among them are stored all the same).
    """
    if not journaled(journal):
        return []
    # Opening the store brings an older file up to date (its runs become logs); the runs this
    # process ended are stored first, so the listing sees them as the store keeps them.
    keep_ended(store_for(journal))
    folder = log_dir(journal)
    if not folder.is_dir():
        return []
    infos = []
    bad: list[str] = []
    sweep_new(folder)
    for path in sorted(folder.glob("*.log")):
        log = read_log(path)
        if log.header is None:
            sweep_empty(path)  # an empty leftover goes; anything else is not a log of ours
            continue
        held = is_held(path)
        if log.finish is None:
            try:
                infos.append(info_of(log, held))
            except Exception as exc:
                bad.append(unreadable(path, exc))
        elif not held:
            store_ended(journal, log.run_id)
    if bad:
        one = len(bad) == 1
        raise JournalError(
            (f"The run log {bad[0]}" if one else f"Run logs: {'; '.join(bad)}")
            + f": {'it was' if one else 'they were'} written by something else. Move "
            f"{'it' if one else 'them'} out of that folder to list the other runs; the "
            f"run{'' if one else 's'} {'it names' if one else 'they name'} cannot be recovered "
            f"from {'it' if one else 'them'}. (recover() and run_records() of the other runs "
            "work meanwhile.)"
        )
    return sorted(infos, key=lambda info: (info.started_at, info.run_id))


def store_ended(journal: Path, run_id: str) -> None:
    """Keep the log of a run that ended, whose process died before storing it; then remove it.
    Nothing happens if another process holds it (it is doing just that), nor if it is gone
    (its owner stored it since it was read)."""
    try:
        lock = RunLock.acquire(log_path(journal, run_id))
    except FileNotFoundError:
        return
    if lock is None:
        return
    stored = False
    try:
        stored = keep_log(journal, run_id, lock)
    finally:
        lock.release(remove=stored)


def keep_log(journal: Path, run_id: str, lock: RunLock) -> bool:
    """Store the log held under ``lock`` if it ended; False if it has not, or if the store
    cannot take it now (it stays, ended, for the journal's next reader)."""
    assert lock.fd is not None
    data = os.pread(lock.fd, os.fstat(lock.fd).st_size, 0)
    log = parse_log(run_id, data)
    if log.header is None or log.finish is None:
        return False
    try:
        with store_for(journal).write() as conn:
            store_run(conn, log, data)
    except JournalError:
        return False
    return True


def run_records(journal: Path, run_id: str) -> list[dict[str, Any]]:
    """The records a run journaled, in order (coalesced progress included)."""
    if not journaled(journal):
        raise JournalError(f"There is no run journal at {journal}; pass the path the run used.")
    store = store_for(journal)
    keep_ended(store)  # see unfinished_runs
    # The log first: its owner stores it before removing it, so a log that is gone is stored.
    log = read_log(log_path(journal, run_id))
    stored = None
    if log.header is None:
        with store.read() as conn:
            stored = stored_log(conn, run_id)
        if stored is None:
            raise JournalError(f"The journal {journal} has no run {run_id!r}.")
        log = stored
    try:
        return expand(record for entry in log.entries() for record in entry_records(entry))
    except Exception as exc:  # anything: see unreadable()
        where = f"in {journal}" if log is stored else f"in the run log {log_path(journal, run_id)}"
        raise JournalError(
            f"The records of run {run_id!r} {where} cannot be read ({error_text(exc)}): "
            "something other than synapse_steps wrote them."
        ) from exc


def entry_records(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """An entry's records, with its step's StepStarted / StepFinished put back from columns."""
    position, name, body = entry["position"], entry["name"], entry["records"]
    started_index, started_time = entry["started_index"], entry["started_time"]
    duration, finished_time = entry["duration"], entry["finished_time"]
    records: list[dict[str, Any]] = [] if body is None else decode(body)
    if type(records) is not list:
        raise ValueError("an entry's records are not a list")
    records = [expand_run_started(record) for record in records]
    if started_index is not None:
        if not 0 <= started_index <= len(records):
            raise ValueError(f"a StepStarted index {started_index} out of range")
        records.insert(started_index, to_dict(StepStarted(position, name, started_time)))
    if finished_time is not None:
        records.append(to_dict(StepFinished(position, name, duration, finished_time)))
    return records
