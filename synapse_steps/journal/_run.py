"""Writing one run's journal as it goes: ``JournalRun``.

What is durable when: ``start_run`` writes the run's header into its new log (``_runlog``), and
every ``step_completed``, ``rollback_started``, ``step_rolled_back`` and ``finish`` appends its
entry to that log (one ``write()``) before returning. A run has ended once ``finish`` returned;
the store keeps it from the next ``keep_ended`` on (runs are stored ``KEEP_BATCH`` at a time in
one transaction, when this process reads the journal, and at exit).

``record`` only buffers: buffered records are written with the next of those calls, or by a later
non-progress ``record`` once ``FLUSH_SECONDS`` have passed since the last write (so a long step's
logs reach the disk while it runs), or when ``FLUSH_RECORDS`` are waiting. Progress records are
coalesced in memory: only the latest one per (step, category) is kept until the next
non-progress record or write, so a million progress calls store a handful of records and cost
one dict store each (``progress(key, record)`` even skips building the dict: the record object
is converted only if it is kept).

A completed step's own two records are not JSON: ``step_started`` notes where its ``StepStarted``
falls among the buffered records, and ``step_completed`` stores that place and both records'
times as columns of the step's entry, which ``run_records`` turns back into the two records. A
step's entry then usually encodes no records at all (``encode_records`` of the pair cost ~6 us
of the ~80 us a journaled step cost on the 2-core test VM).
"""

from __future__ import annotations

import atexit
import json
import os
import time
import weakref
from collections.abc import Hashable, Iterable
from typing import Any, Protocol

from synapse_steps._warn import warn_user
from synapse_steps.events import StepStarted, to_dict
from synapse_steps.journal._checkpoint import CHECKPOINT_BYTES
from synapse_steps.journal._codec import encode_mapping, encode_records
from synapse_steps.journal._errors import JournalError
from synapse_steps.journal._kept import store_run
from synapse_steps.journal._lock import RunLock
from synapse_steps.journal._metric_batch import MetricBatch, metric_record
from synapse_steps.journal._runlog import (
    ENTRY,
    FINISH,
    ROLLBACK,
    Op,
    RunLog,
    append,
    frame,
    step_frame,
)
from synapse_steps.journal._store import Store, open_stores
from synapse_steps.journal.step_data import data_text

#: ``record()`` types that are coalesced (the core's ``ProgressReported.to_dict()["type"]``).
PROGRESS_TYPE = "ProgressReported"
#: Fields of a progress record that identify "the same bar": the latest one per key is kept.
PROGRESS_KEY = ("step", "category")
FLUSH_RECORDS = 1000
FLUSH_SECONDS = 1.0


#: Ended runs are written into the store this many at a time, in one transaction: alone, each
#: cost ~0.4-0.8 ms here (a run of 100 steps paid 4-8 us a step for it).
KEEP_BATCH = 16

#: This process's id, kept current across fork() (os.getpid() is a system call per step).
_pid = os.getpid()


def _forked() -> None:
    global _pid
    _pid = os.getpid()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forked)

#: A records-only entry's step columns (position ... rollback_data in ``ENTRY_COLUMNS``).
_NO_STEP = (None,) * 11


class SupportsToDict(Protocol):
    """A record object: ``to_dict()`` gives its JSON-able form with a ``"type"`` key."""

    def to_dict(self) -> dict[str, Any]: ...


def _as_dicts(records: Iterable[dict[str, Any] | SupportsToDict]) -> list[dict[str, Any]]:
    return [r if isinstance(r, dict) else r.to_dict() for r in records]


class JournalRun:
    """The journal of one run, owned by this process; made by ``Journal.start_run``.

    Holds the lock on the run's log for as long as it is open: other processes see the run as
    alive until ``finish`` has been stored or this process dies (or this object is
    garbage-collected unfinished, which counts as dead: the run can then be recovered).
    """

    def __init__(self, store: Store, header: Op, lock: RunLock, log_size: int) -> None:
        self._store = store
        self._header = header
        #: Unique across processes and machines (``uuid4().hex``).
        self.run_id: str = header[1]
        self.workflow: str = header[2]
        self._lock = lock
        self._pending: list[dict[str, Any] | MetricBatch] = []
        #: The metric batch the next metric record may join, and the rows added to it since
        #: it was buffered (they count towards FLUSH_RECORDS).
        self._batch: MetricBatch | None = None
        self._batched = 0
        #: The index of the run's next entry.
        self._next_entry = 0
        self._progress: dict[Hashable, dict[str, Any] | SupportsToDict] = {}
        #: The running step's StepStarted, not yet a dict: (position, name, time, its index in
        #: ``_pending``). Stored as columns if that step's ``step_completed`` comes next.
        self._step_start: tuple[int, str, float, int] | None = None
        self._last_write = time.monotonic()
        #: The log's size in bytes; ``_log_broken`` once a write failed (nothing may follow a
        #: frame cut short).
        self._log_size = log_size
        self._log_broken = False
        #: name -> (entry index, position) of its completed steps not yet rolled back, oldest first.
        self._completed: dict[str, list[tuple[int, int]]] = {}
        self._positions: set[int] = set()
        self._finished: str | None = None
        # Dropped without finish() (an exception the caller did not expect): let go of the lock
        # so the run shows as dead and can be recovered, rather than alive forever.
        self._finalizer = weakref.finalize(self, lock.release, False)

    def __repr__(self) -> str:
        state = self._finished or "open"
        return f"<JournalRun {self.run_id} {self.workflow!r} {state}>"

    # -- records ---------------------------------------------------------------------------

    def record(self, event: dict[str, Any]) -> None:
        """Buffer one lifecycle record (a JSON-able dict with a ``"type"`` key).

        Progress records (``type == PROGRESS_TYPE``) replace the previous one with the same
        ``PROGRESS_KEY`` fields; every other record (logs, metrics, lifecycle) is kept. Never
        raises for an odd value: what JSON cannot hold is stored as its ``repr``.
        """
        if event.get("type") == PROGRESS_TYPE:
            self._progress[(event.get("step"), event.get("category"))] = event
            return
        self._batch = None  # a later metric record starts a new batch: the order is kept
        self._buffer(event)

    def step_started(self, position: int, name: str, at: float) -> None:
        """Buffer the ``StepStarted`` record of the step about to run (``at``: its ``time``).

        Equivalent to ``record(to_dict(StepStarted(position, name, at)))``, but if that step's
        ``step_completed`` is the next entry written, the record is kept as columns of that entry.
        """
        self._place_step_start()
        self._batch = None  # a metric record after this one must not join an earlier batch
        pending = self._pending
        if self._progress:
            pending.extend(_as_dicts(self._progress.values()))
            self._progress = {}
        self._step_start = (position, name, at, len(pending))

    def _place_step_start(self) -> None:
        """Turn a buffered ``step_started`` into a record in its place (it goes out as JSON)."""
        start, self._step_start = self._step_start, None
        if start is not None:
            position, name, at, index = start
            self._pending.insert(index, to_dict(StepStarted(position, name, at)))

    def metrics(self, category: str, values: dict[str, Any], at: float) -> None:
        """Buffer one metric record (``MetricsReported``): the per-call path of a training loop.

        Consecutive records of one category with the same plain-number values are kept as
        columns (see ``_metric_batch``); ``run_records`` gives them back as metric records.
        """
        batch = self._batch
        if batch is not None and batch.add(category, values, at):
            self._batched += 1
            if (
                self._batched >= FLUSH_RECORDS
                or time.monotonic() - self._last_write >= FLUSH_SECONDS
            ):
                self._flush_buffered()
            return
        self._batch = batch = MetricBatch.start(category, values, at)
        if batch is None:
            self._buffer(metric_record(category, values, at))
        else:
            self._buffer(batch)

    def _buffer(self, item: dict[str, Any] | MetricBatch) -> None:
        pending = self._pending
        if self._progress:
            pending.extend(_as_dicts(self._progress.values()))
            self._progress = {}
        pending.append(item)
        if (
            len(pending) + self._batched >= FLUSH_RECORDS
            or time.monotonic() - self._last_write >= FLUSH_SECONDS
        ):
            self._flush_buffered()

    def _flush_buffered(self) -> None:
        if self._finished is not None:
            # A record after finish() (a stray late log) has no run to go to.
            self._pending, self._batch, self._batched = [], None, 0
            self._step_start = None
            return
        self._write_records()

    def progress(self, key: Hashable, record: dict[str, Any] | SupportsToDict) -> None:
        """Fast path for a progress record: it replaces the previous one with the same ``key``.

        ``record`` may be the record object itself: its ``to_dict()`` is called only if it is
        still the latest for its key when records are written, so a million progress calls
        cost a million dict stores (~40 ns each) and nothing else. Same coalescing as
        ``record`` (which computes the key from the dict's ``PROGRESS_KEY`` fields).
        """
        self._progress[key] = record

    def _take_records(
        self, position: int | None = None
    ) -> tuple[str | None, int | None, float | None]:
        """What was buffered, as one JSON array (``None`` if nothing); the buffer empties.

        With the ``position`` of a completed step whose ``step_started`` is buffered, that record
        stays out of the array: also returned are its index in the array and its time (else
        ``None, None``).
        """
        start = self._step_start
        if start is not None and start[0] == position:
            if not self._pending and not self._progress:  # the common case: nothing else
                self._step_start, self._batch, self._batched = None, None, 0
                return None, start[3], start[2]
            self._step_start = None
            started_index: int | None = start[3]
            started_time: float | None = start[2]
        else:
            self._place_step_start()
            started_index = started_time = None
        pending, self._pending = self._pending, []
        self._batch, self._batched = None, 0  # a written batch is never added to again
        if self._progress:
            progress, self._progress = self._progress, {}
            pending.extend(_as_dicts(progress.values()))
        text = encode_records(_as_dicts(pending)) if pending else None
        return text, started_index, started_time

    def _write(self, op: Op) -> None:
        """Append one op to the run's log: durable against a kill once this returns."""
        self._append(frame(op))

    def _append(self, data: bytes) -> None:
        """Append one frame to the run's log: durable against a kill once this returns."""
        store = self._store
        if store.pid != _pid:
            # A forked child (a DataLoader worker, a writer process) must not write the
            # parent's run: its entries would interleave with the parent's.
            raise JournalError(
                f"Run {self.run_id} belongs to process {store.pid}; it cannot be journaled "
                f"from process {os.getpid()} (a fork of it). Journal from the parent process."
            )
        fd = self._lock.fd
        if fd is None or self._log_broken:
            raise JournalError(f"The log of run {self.run_id} was closed after an error.")
        try:
            append(fd, data)
        except OSError as exc:
            # A frame cut short ends the log for readers: nothing more may follow it.
            self._log_broken = True
            raise JournalError(
                f"Cannot write the log of run {self.run_id} ({self._lock.path}): {exc}. Free "
                "some space or pass another journal path (or journal=False)."
            ) from exc
        self._log_size += len(data)
        self._last_write = time.monotonic()

    def _records_op(self) -> Op | None:
        """The next entry holding the buffered records alone (None if nothing is buffered)."""
        records, _, _ = self._take_records()
        if records is None:
            return None
        op: Op = (ENTRY, self._next_entry, *_NO_STEP, records)
        self._next_entry += 1
        return op

    def _write_records(self) -> None:
        """Write what was buffered to the log (a records-only entry)."""
        op = self._records_op()
        if op is not None:
            self._write(op)

    # -- steps -----------------------------------------------------------------------------

    def step_completed(
        self,
        position: int,
        name: str,
        data: dict[str, Any],
        rollback_data: Any,
        *,
        success: bool = True,
        finished: tuple[float, float] | None = None,
    ) -> bool:
        """Store a step's result durably (written before returning); True if recoverable.

        ``finished``: the ``(duration, time)`` of the step's ``StepFinished`` record, journaled
        with the entry (instead of ``record``-ing it) and given back in its place by
        ``run_records``.

        Call it as soon as the step's ``execute`` returns, before the next step starts. A failed
        step that will be rolled back can be journaled too (``success=False``), so a crash
        during its rollback still leaves it to ``recover_steps``. ``data`` is kept as values
        when they are small and plain, else as a summary of their types (``step_data``): it is
        never a reason to warn. ``rollback_data`` is stored as given, dict or not (``None``, a
        list ...): recovery hands it back the same. Its values that cannot be stored are left
        out, the step is marked not recoverable and one ``RuntimeWarning`` (per step name and
        process) names the step and the keys; the run goes on. Returns False in that case.
        """
        if self._finished is not None:
            self._check_open("step_completed")
        if position in self._positions:
            raise JournalError(
                f"step_completed(): run {self.run_id} already has a step at position "
                f"{position} ('{name}') that was not rolled back; each position is journaled "
                "once (again only after step_rolled_back, e.g. a resumed run)."
            )
        stored_data = data_text(data)
        rb_text, problems = encode_mapping(rollback_data)
        if problems:
            problems = [f"rollback_data{p}" for p in problems]
            _warn_unstorable(name, position, problems)
        records, started_index, started_time = self._take_records(position)
        entry = self._next_entry
        self._append(
            step_frame(
                entry,
                position,
                name,
                int(success),
                json.dumps(problems) if problems else "",
                time.time(),
                None if started_time is None else (started_index or 0, started_time),
                finished,
                stored_data,
                rb_text,
                records,
            )
        )
        self._next_entry = entry + 1
        self._positions.add(position)
        completed = self._completed.get(name)
        if completed is None:
            self._completed[name] = [(entry, position)]
        else:
            completed.append((entry, position))
        return not problems

    def _entry(self, name: str, method: str) -> tuple[int, int]:
        entries = self._completed.get(name)
        if not entries:
            raise JournalError(
                f"{method}('{name}'): run {self.run_id} has no completed, not rolled back step "
                f"named '{name}'. Call step_completed() for a step before journaling its "
                "rollback (a failed step can be journaled with success=False)."
            )
        return entries[-1]

    def holds(self, name: str) -> bool:
        """True if a step ``name`` was journaled and not rolled back yet."""
        return bool(self._completed.get(name))

    def rollback_started(self, name: str) -> None:
        """Durably note that the step's rollback is about to run (recovery would retry it)."""
        self._check_open("rollback_started")
        entry, _ = self._entry(name, "rollback_started")
        self._write_records()  # the records before it (its StepRollbackStarted) go first
        self._write((ROLLBACK, entry, "started", None))

    def step_rolled_back(self, name: str, error: str | None = None) -> None:
        """Durably note that the step's rollback returned (``error``: it raised); never redone."""
        self._check_open("step_rolled_back")
        entry, position = self._entry(name, "step_rolled_back")
        self._write_records()
        self._write((ROLLBACK, entry, "done", error))
        self._completed[name].pop()
        # Undone: a resumed run may journal that position again.
        self._positions.discard(position)

    # -- end -------------------------------------------------------------------------------

    def finish(self, status: str) -> None:
        """Close the run with ``status`` ("succeeded", "failed", "interrupted" ...).

        Writes the buffered records and the run's end to its log: the run has ended once this
        is written (it is never listed by ``unfinished_runs`` again). The store keeps it from
        the next ``keep_ended`` on (every ``KEEP_BATCH`` ended runs, when this process reads the
        journal, and at exit); until then its log holds it, locked.
        """
        self._check_open("finish")
        if not isinstance(status, str) or not status:
            raise JournalError(
                f"finish() needs a non-empty status string such as 'succeeded'; got {status!r}."
            )
        last = self._records_op()
        if last is not None:
            self._write(last)
        end = (FINISH, status, time.time())
        self._write(end)
        self._finished = status
        self._finalizer.detach()
        store = self._store
        log = RunLog(self.run_id, self._header, finish=end, size=self._log_size)
        with store.lock:
            store.ended.append((log, self._lock))
            if len(store.ended) >= KEEP_BATCH:
                keep_ended(store)

    @property
    def not_rolled_back(self) -> list[str]:
        """The journaled steps whose rollback has not run, oldest first."""
        return [name for name, entries in self._completed.items() for _ in entries]

    def leave_for_recovery(self) -> None:
        """Stop owning an unfinished run: write what is buffered, then let go of its lock, so
        the run reads as dead and ``recover()`` can undo its steps, from this process too (its
        steps could not be rolled back where they ran: a worker that died)."""
        self._check_open("leave_for_recovery")
        last = self._records_op()
        if last is not None:
            self._write(last)
        self._finished = "left for recovery"
        self._finalizer.detach()
        self._lock.release(remove=False)

    def close_after_error(self, status: str = "journal-error") -> None:
        """Close a run whose journal could not be written, so it is never offered for recovery.

        ``finish(status)`` first; if that fails too (a full disk), the run's log is removed
        (it is most often what filled the disk): the journal then holds nothing of the run,
        which it said it could not follow. Never raises.
        """
        if self._finished is not None:
            return
        try:
            self.finish(status)
            return
        except Exception:
            pass
        self._finished = status
        self._finalizer.detach()
        self._lock.release(remove=True)

    @property
    def finished(self) -> str | None:
        """The status given to ``finish``, or ``None`` while the run is open."""
        return self._finished

    def _check_open(self, method: str) -> None:
        if self._finished is not None:
            raise JournalError(
                f"{method}() on run {self.run_id}, which is already finished "
                f"({self._finished!r}); start a new run with Journal.start_run()."
            )


#: Step names whose unstorable rollback_data was already warned about in this process.
_WARNED_UNSTORABLE: set[str] = set()


def _warn_unstorable(name: str, position: int, problems: list[str]) -> None:
    """One warning per step name and process: a loop of runs must not repeat it every run."""
    if name in _WARNED_UNSTORABLE:
        return
    _WARNED_UNSTORABLE.add(name)
    # Pointed at the user's line (their execute() call), not at the journal's.
    warn_user(
        f"Run journal: step '{name}' (position {position}) returned {'; '.join(problems)}, "
        "which the journal cannot store, so the step is journaled as NOT recoverable: if this "
        "process dies, recover() will not undo it. Keep rollback_data to plain values (str, "
        "int, float, Path, datetime, lists, dicts with str keys ...) to make it recoverable. "
        "(Said once per step name in this process.)",
        RuntimeWarning,
    )


def keep_ended(store: Store) -> None:
    """Write the runs this process ended and the store does not keep yet into it, in one
    transaction, then remove their logs. If the store cannot take them now (a full disk, a
    journal locked for too long), one warning says so and their logs keep them, ended: the
    journal's next reader stores them."""
    with store.lock:
        ended, store.ended = store.ended, []
        if not ended or store.pid != _pid:
            return  # a forked child leaves its parent's runs to the parent
        if not store.path.parent.is_dir():
            # The journal's folder was deleted (a temporary store removed): the runs' logs went
            # with it, and storing them would create the folder again.
            for _log, lock in ended:
                lock.release(remove=False)
            return
        stored = 0
        try:
            with store.write() as conn:
                for log, lock in ended:
                    assert lock.fd is not None
                    # The file's size, not the sizes counted: an interrupt between a write()
                    # and its count must not cut the run's end off what is stored.
                    data = os.pread(lock.fd, os.fstat(lock.fd).st_size, 0)
                    log.size = len(data)
                    store_run(conn, log, data)
                    stored += len(data)
        except Exception as exc:
            for _log, lock in ended:
                lock.release(remove=False)
            warn_user(
                f"The run journal {store.path} could not keep {len(ended)} ended run(s) "
                f"({exc}); their logs in {ended[0][1].path.parent} keep them, and the journal "
                "stores them on its next use.",
                RuntimeWarning,
            )
            return
        for _log, lock in ended:
            lock.release(remove=True)
        store.stored += stored
        if store.stored >= CHECKPOINT_BYTES:
            # Between runs the writer is idle: the checkpoint's disk flush lands in no step.
            store.stored = 0
            store.checkpointer.request()


@atexit.register
def _keep_ended_at_exit() -> None:
    for store in open_stores():
        keep_ended(store)
