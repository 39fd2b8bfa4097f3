"""Recovering a dead run (its steps rolled back from the journal) or abandoning it.

"Never rolled back twice" rests on two durable marks per step, appended to the run's log like
the run's own: ``ROLLBACK started`` before the rollback is called and ``done`` after it returns
(or raised: its error goes with the mark). A recovery killed in between leaves ``started``: the
next recovery calls that rollback again (rollbacks are documented to be idempotent), while a
``done`` step is never called again. Recovery holds the run's lock, so it cannot run while the
owner is alive nor twice at once; it reads every step before it undoes any, and ends by writing
the run's end (status ``'recovered'``), after which ``recover_steps`` refuses the run. A mark
that cannot be written (a full disk) stops it with a ``JournalError`` saying what was done: the
next recovery goes on from the marks written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from synapse_steps._text import error_text
from synapse_steps.journal._codec import decode
from synapse_steps.journal._errors import JournalError
from synapse_steps.journal._kept import stored_log
from synapse_steps.journal._listing import (
    CompletedStep,
    RunInfo,
    completed_step,
    info_of,
    journaled,
    keep_log,
    run_info,
    run_records,
    unfinished_runs,
    unreadable,
)
from synapse_steps.journal._lock import RunLock
from synapse_steps.journal._run import keep_ended
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
from synapse_steps.journal._sweep import linked
from synapse_steps.journal.step_data import is_summary

__all__ = [
    "CompletedStep",
    "RecoveryReport",
    "Rollback",
    "RunInfo",
    "abandon",
    "recover_steps",
    "run_info",
    "run_records",
    "unfinished_runs",
]

#: ``rollback(step_name, data, rollback_data)``: undo one step from its journaled result (each
#: value as the step returned it: a dict by convention, whatever the step gave otherwise).
Rollback = Callable[[str, Any, Any], None]


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


def _locked_log(journal: Path, run_id: str, action: str) -> tuple[RunLog, RunLock]:
    """A dead run's log, read under its lock: checked that it exists, is not owned by a live
    process and has not ended (an ended one is stored on the way)."""
    if not journaled(journal):
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
            _sweep_held(lock, path)  # an empty leftover: see _sweep.sweep_empty
            _refuse_ended(journal, run_id, action)
        if log.finish is not None:
            lock.release(remove=keep_log(journal, run_id, lock))
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
    lock.release(remove=linked(path, lock.fd))


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
    lock.release(remove=keep_log(journal, lock.path.stem, lock))


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
        info_of(log, False)  # the run as unfinished_runs() lists it: the same log is readable
    except Exception as exc:
        raise JournalError(
            f"The run log {unreadable(path, exc)}: it was written by something "
            "else. Nothing was rolled back. Undo the run's steps by hand, then "
            f"abandon({log.run_id!r}) it."
        ) from exc
    steps = []
    for entry in reversed(log.entries()):
        if entry["position"] is None:
            continue
        data = rollback_data = None
        try:
            step = completed_step(entry)
            if step.rollback != "done" and step.recoverable:
                data, rollback_data = decode(entry["data"]), decode(entry["rollback_data"])
                if is_summary(data):
                    data = {}  # large or not plain: the journal kept its types only
        except Exception as exc:
            name = entry["name"]
            raise JournalError(
                f"Step {name!r} (entry {entry['id']}) of the run log {unreadable(path, exc)}: "
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
