"""Reading journals back: unfinished runs, their recovery (rollback from the journal), abandon.

A run in progress or dead is its log file (``_runlog``); a run that ended is kept in the store.
"Never rolled back twice" rests on two durable marks per step, appended to the run's log like
the run's own: ``ROLLBACK started`` before the rollback is called and ``done`` after it returns.
A recovery killed in between leaves ``started``: the next recovery calls that rollback again
(rollbacks are documented to be idempotent), while a ``done`` step is never called again.
Recovery holds the run's lock, so it cannot run while the owner is alive nor twice at once, and
it ends by writing the run's end (status ``'recovered'``), after which ``recover_steps`` refuses
the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from synapse_steps.events import StepFinished, StepStarted, to_dict
from synapse_steps.journal._codec import decode, error_text
from synapse_steps.journal._errors import JournalError
from synapse_steps.journal._kept import store_run, stored_log
from synapse_steps.journal._lock import NEW_SUFFIX, RunLock, is_held
from synapse_steps.journal._metric_batch import expand
from synapse_steps.journal._run import keep_ended
from synapse_steps.journal._run_started import expand as expand_run_started
from synapse_steps.journal._runlog import (
    FINISH,
    ROLLBACK,
    RunLog,
    append,
    frame,
    log_dir,
    log_path,
    parse_log,
    read_log,
)
from synapse_steps.journal._store import store_for

#: ``rollback(step_name, data, rollback_data)``: undo one step from its journaled result (each
#: value as the step returned it: a dict by convention, whatever the step gave otherwise).
Rollback = Callable[[str, Any, Any], None]


def _journaled(journal: Path) -> bool:
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
    #: Rollbacks called by this recovery that returned; one that raised is in ``errors`` only.
    rolled_back: tuple[str, ...]
    #: Steps called by this recovery whose rollback had started in an earlier, killed attempt.
    retried: tuple[str, ...]
    #: ``"<step>: <error>"`` for each rollback that raised; it is marked done (with its error,
    #: see ``CompletedStep.rollback_error``) and never called again.
    errors: tuple[str, ...]
    #: Steps skipped because their result could not be stored: undo them by hand.
    not_recoverable: tuple[str, ...]
    #: Steps rolled back before (by the run itself or an earlier recovery): not called again.
    already_rolled_back: tuple[str, ...]
    #: ``"<step>: <error>"`` for each rollback that raised before (in the run or an earlier
    #: recovery): not called again either, and not rolled back.
    failed_before: tuple[str, ...] = ()


def _step(entry: dict[str, Any]) -> CompletedStep:
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


def _info(log: RunLog, owner_alive: bool) -> RunInfo:
    """What ``unfinished_runs`` lists of a run's log; raises (anything: ``ValueError``,
    ``OverflowError`` ...) for a log that holds impossible values (see ``_unreadable``)."""
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
            _step(entry) for entry in log.entries() if entry["position"] is not None
        ),
        pid=pid,
        host=host,
        owner_alive=owner_alive,
        meta=extras[0],
    )


def _unreadable(path: Path, exc: BaseException) -> str:
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
    if _journaled(journal):
        keep_ended(store_for(journal))  # see unfinished_runs (an older file's runs become logs)
    path = log_path(journal, run_id)
    log = read_log(path)
    if log.header is None or log.finish is not None:
        return None
    try:
        return _info(log, is_held(path))
    except Exception as exc:
        raise JournalError(
            f"The run log {_unreadable(path, exc)}: it was written by something "
            "else. The run it names cannot be recovered from it: undo its steps by hand, then "
            f"abandon({run_id!r}) it."
        ) from exc


def unfinished_runs(journal: Path) -> list[RunInfo]:
    """Runs of ``journal`` that never reached ``finish`` (nor recovery/abandon), oldest first.

    A run that ended but whose process died before the store kept it is stored now. Logs that
    cannot be read are named, all of them, in one ``JournalError`` (after the others were
    read, so the ended ones among them are stored all the same).
    """
    if not _journaled(journal):
        return []
    # Opening the store brings an older file up to date (its runs become logs); the runs this
    # process ended are stored first, so the listing sees them as the store keeps them.
    keep_ended(store_for(journal))
    folder = log_dir(journal)
    if not folder.is_dir():
        return []
    infos = []
    unreadable = []
    _sweep_new(folder)
    for path in sorted(folder.glob("*.log")):
        log = read_log(path)
        if log.header is None:
            _sweep(path)  # an empty leftover goes; anything else is not a log of ours
            continue
        held = is_held(path)
        if log.finish is None:
            try:
                infos.append(_info(log, held))
            except Exception as exc:
                unreadable.append(_unreadable(path, exc))
        elif not held:
            _store_ended(journal, log.run_id)
    if unreadable:
        one = len(unreadable) == 1
        raise JournalError(
            (f"The run log {unreadable[0]}" if one else f"Run logs: {'; '.join(unreadable)}")
            + f": {'it was' if one else 'they were'} written by something else. Move "
            f"{'it' if one else 'them'} out of that folder to list the other runs; the "
            f"run{'' if one else 's'} {'it names' if one else 'they name'} cannot be recovered "
            f"from {'it' if one else 'them'}. (recover() and run_records() of the other runs "
            "work meanwhile.)"
        )
    return sorted(infos, key=lambda info: (info.started_at, info.run_id))


def _store_ended(journal: Path, run_id: str) -> None:
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
        stored = _keep(journal, run_id, lock)
    finally:
        lock.release(remove=stored)


def _linked(path: Path, fd: int) -> bool:
    """True if ``path`` is still the file open as ``fd`` (not removed since it was opened)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _sweep(path: Path) -> None:
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
    lock.release(remove=os.fstat(lock.fd).st_size == 0 and _linked(path, lock.fd))


#: A log's hidden temporary file (``RunLock.create``) older than this, and not held, was left
#: by a process killed while starting a run: it is removed.
STALE_NEW_SECONDS = 3600.0


def _sweep_new(folder: Path) -> None:
    for path in folder.glob(f".*.log{NEW_SUFFIX}"):
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= STALE_NEW_SECONDS and not is_held(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def _keep(journal: Path, run_id: str, lock: RunLock) -> bool:
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


def _locked_log(journal: Path, run_id: str, action: str) -> tuple[RunLog, RunLock]:
    """A dead run's log, read under its lock: checked that it exists, is not owned by a live
    process and has not ended (an ended one is stored on the way)."""
    if not _journaled(journal):
        raise JournalError(
            f"Cannot {action} run {run_id!r}: there is no run journal at {journal}. Pass the "
            "journal path the run was started with (path=...)."
        )
    keep_ended(store_for(journal))  # see unfinished_runs
    path = log_path(journal, run_id)
    try:
        lock = RunLock.acquire(path)
    except FileNotFoundError:
        _refuse_ended(journal, run_id, action)
    if lock is None:
        held = read_log(path)
        if held.finish is not None:  # ended; its process stores it with its next batch
            _refuse_status(run_id, action, held.workflow, held.finish[1])
        header = held.header
        where = "" if header is None else f" in process {header[6]} on {header[7]}"
        raise JournalError(
            f"Cannot {action} run {run_id!r}: it is still running{where}, or another process "
            "is recovering or abandoning it right now. Wait for it to end (or stop that "
            "kernel), then retry."
        )
    try:
        assert lock.fd is not None
        # Read through the descriptor: the log its owner removed since (once stored) is the
        # one that was opened, and it says how the run ended.
        data = os.pread(lock.fd, os.fstat(lock.fd).st_size, 0)
        log = parse_log(run_id, data)
        if log.header is None:
            if data:
                raise JournalError(
                    f"Cannot {action} run {run_id!r}: its log {path} holds no run header for "
                    "it (synapse_steps did not write it). It was left as it is."
                )
            _sweep_held(lock, path)  # an empty leftover: see _sweep
            _refuse_ended(journal, run_id, action)
        if log.finish is not None:
            lock.release(remove=_keep(journal, run_id, lock))
            _refuse_ended(journal, run_id, action)
        # A frame cut short by the kill ends the log: what this recovery appends goes after
        # the last whole frame, not after the debris.
        os.ftruncate(lock.fd, log.size)
    except BaseException:
        lock.release(remove=False)
        raise
    return log, lock


def _sweep_held(lock: RunLock, path: Path) -> None:
    assert lock.fd is not None
    lock.release(remove=_linked(path, lock.fd))


def _refuse_ended(journal: Path, run_id: str, action: str) -> NoReturn:
    with store_for(journal).read() as conn:
        log = stored_log(conn, run_id)
    if log is None or log.finish is None:
        raise JournalError(
            f"Cannot {action} run {run_id!r}: the journal {journal} has no such run. "
            "unfinished_runs() lists the runs that can be recovered or abandoned."
        )
    _refuse_status(run_id, action, log.workflow, log.finish[1])


def _refuse_status(run_id: str, action: str, workflow: str, status: str) -> NoReturn:
    what = {
        "recovered": "was already recovered: its steps are never rolled back twice",
        "abandoned": "was abandoned",
    }.get(status, f"finished normally with status {status!r}")
    raise JournalError(
        f"Cannot {action} run {run_id!r} (workflow '{workflow}'): it {what}. "
        "unfinished_runs() lists the runs that can still be recovered."
    )


def _end(journal: Path, lock: RunLock, status: str) -> None:
    """Write a recovered / abandoned run's end into its log, keep it in the store and remove
    the log (which stays, ended, if the store cannot take it now). ``OSError`` if the end
    cannot be written (the log is left as it was, but for a frame cut short)."""
    assert lock.fd is not None
    append(lock.fd, frame((FINISH, status, time.time())))
    lock.release(remove=_keep(journal, lock.path.stem, lock))


class _Unwritten(Exception):
    """A recovery's mark (or the run's end) could not be written: see ``_cannot_write``."""

    def __init__(self, exc: OSError, unmarked: str | None = None) -> None:
        super().__init__(str(exc))
        self.exc = exc
        #: The step whose rollback returned but whose "done" mark could not be written.
        self.unmarked = unmarked


def _mark(fd: int, op: Any, unmarked: str | None = None) -> None:
    try:
        append(fd, frame(op))
    except OSError as exc:
        raise _Unwritten(exc, unmarked) from exc


def _cannot_write(
    journal: Path, run_id: str, failure: _Unwritten, rolled_back: list[str], errors: list[str]
) -> JournalError:
    """Why a recovery stopped half-way (a full disk): what it did, and that a retry finishes it.

    Nothing is lost: each rollback is marked in the run's log as it goes, the marks written
    stay (a frame the failure cut short is dropped by the next recovery), and the run has not
    ended, so the next ``recover()`` goes on where this one stopped.
    """
    names = [repr(name) for name in rolled_back]
    if len(names) > 6:
        names = [*names[:3], "...", names[-1]]
    done = (
        f"the {len(rolled_back)} step(s) rolled back by this call ({', '.join(names)}) are "
        "marked in it and are not called again; the others are not rolled back yet"
        if rolled_back
        else "no step was rolled back by this call"
    )
    text = (
        f"Cannot finish recovering run {run_id!r} of the journal {journal}: its log in "
        f"{log_dir(journal)} cannot be written ({failure.exc}). Nothing was lost: {done}."
    )
    if failure.unmarked is not None:
        text += (
            f" The rollback of {failure.unmarked!r} returned but could not be marked: the next "
            "recovery calls it again (rollbacks must be idempotent)."
        )
    if errors:
        text += f" Rollbacks that raised (marked so, not called again): {'; '.join(errors)}."
    return JournalError(
        text + " Free some space (or make the folder writable), then call recover() again: "
        "it goes on where this one stopped."
    )


def _to_roll_back(log: RunLog, path: Path) -> list[tuple[dict[str, Any], CompletedStep, Any, Any]]:
    """The run's completed steps, newest first, as (entry, step, data, rollback_data), each
    read whole before anything is rolled back: one that cannot be read stops the recovery
    before it starts (the values are decoded only for the steps to roll back)."""
    try:
        _info(log, False)  # the run as unfinished_runs() lists it: the same log is readable
    except Exception as exc:
        raise JournalError(
            f"The run log {_unreadable(path, exc)}: it was written by something "
            "else. Nothing was rolled back. Undo the run's steps by hand, then "
            f"abandon({log.run_id!r}) it."
        ) from exc
    steps = []
    for entry in reversed(log.entries()):
        if entry["position"] is None:
            continue
        data = rollback_data = None
        try:
            step = _step(entry)
            if step.rollback != "done" and step.recoverable:
                data, rollback_data = decode(entry["data"]), decode(entry["rollback_data"])
        except Exception as exc:
            name = entry["name"]
            raise JournalError(
                f"Step {name!r} (entry {entry['id']}) of the run log {_unreadable(path, exc)}: "
                "it was written by something else. Nothing was rolled back. "
                f"Undo the run's steps by hand, then abandon({log.run_id!r}) it."
            ) from exc
        steps.append((entry, step, data, rollback_data))
    return steps


def recover_steps(journal: Path, run_id: str, rollback: Rollback) -> RecoveryReport:
    """Roll back a dead run's completed steps, newest first, from the journal; see the module."""
    log, lock = _locked_log(journal, run_id, "recover")
    rolled_back: list[str] = []
    retried: list[str] = []
    errors: list[str] = []
    not_recoverable: list[str] = []
    already: list[str] = []
    failed_before: list[str] = []
    done = False
    try:
        assert lock.fd is not None
        fd = lock.fd
        for entry, step, data, rollback_data in _to_roll_back(log, lock.path):
            if step.rollback == "done":
                if step.rollback_error is None:
                    already.append(step.name)
                else:
                    failed_before.append(f"{step.name}: {step.rollback_error}")
                continue
            if not step.recoverable:
                not_recoverable.append(step.name)
                continue
            _mark(fd, (ROLLBACK, entry["id"], "started", None))
            try:
                rollback(step.name, data, rollback_data)
            except Exception as exc:
                # Like the orchestrator: a failing rollback is reported, the others still run.
                # (An interrupt propagates and leaves 'started': the next recovery retries it.)
                error: str | None = error_text(exc)
            else:
                error = None
            # Marked first: nothing may come between a rollback and its mark (any text can be
            # framed, see _runlog), or the next recovery would call it again.
            _mark(fd, (ROLLBACK, entry["id"], "done", error), step.name)
            if error is None:
                rolled_back.append(step.name)
            else:  # called, but not rolled back: never counted as such
                errors.append(f"{step.name}: {error}")
            if step.rollback == "started":
                retried.append(step.name)
        try:
            _end(journal, lock, "recovered")
        except OSError as exc:
            raise _Unwritten(exc) from exc
        done = True
    except _Unwritten as failure:
        raise _cannot_write(journal, run_id, failure, rolled_back, errors) from failure.exc
    finally:
        if not done:
            lock.release(remove=False)
    return RecoveryReport(
        run_id=run_id,
        rolled_back=tuple(rolled_back),
        retried=tuple(retried),
        errors=tuple(errors),
        not_recoverable=tuple(not_recoverable),
        already_rolled_back=tuple(already),
        failed_before=tuple(failed_before),
    )


def abandon(journal: Path, run_id: str) -> None:
    """Mark a dead run abandoned: nothing is rolled back and it is never offered again."""
    _log, lock = _locked_log(journal, run_id, "abandon")
    try:
        _end(journal, lock, "abandoned")
    except OSError as exc:
        lock.release(remove=False)
        raise JournalError(
            f"Cannot abandon run {run_id!r}: its log in {log_dir(journal)} cannot be written "
            f"({exc}). Nothing changed: free some space (or make the folder writable), then "
            "call abandon() again."
        ) from exc
    except BaseException:
        lock.release(remove=False)
        raise


def run_records(journal: Path, run_id: str) -> list[dict[str, Any]]:
    """The records a run journaled, in order (coalesced progress included)."""
    if not _journaled(journal):
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
        return expand(record for entry in log.entries() for record in _entry_records(entry))
    except Exception as exc:  # anything: see _unreadable
        where = f"in {journal}" if log is stored else f"in the run log {log_path(journal, run_id)}"
        raise JournalError(
            f"The records of run {run_id!r} {where} cannot be read ({error_text(exc)}): "
            "something other than synapse_steps wrote them."
        ) from exc


def _entry_records(entry: dict[str, Any]) -> list[dict[str, Any]]:
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
