"""What a remote run sends across processes, and how each side reads it (no Ray import here).

* A run travels as one cloudpickle blob of its ``RunRequest`` (``request.shipped()``: the
  progress callback stays on the driver) and the client the user gave (``None``: the worker
  opens its default one). The driver's ``RuntimeContext`` (front ends, widgets, a backend
  connection) cannot and must not travel: it is pickled as a reference and replaced by the
  worker's runtime on arrival, wherever it occurs in the object graph (a context's
  ``runtime_ctx``, a train action's). The final context comes back the same way, the worker's
  runtime replaced by the driver's. Classes defined in a notebook (module ``__main__``) travel
  by value: cloudpickle does that for ``__main__``.
* Records travel as they are, but for a step's result: ``RecordBuffer`` gives each
  ``StepFinished`` / ``StepFailed`` a ``StepResult`` holding only what the driver's journal
  needs (its ``rollback_data`` and ``data``, no exception), so a remote run is journaled on the
  driver like a local one. It keeps them in order until the driver drains them.
* The driver re-stamps each record's monotonic ``time`` into its own clock (``Restamper``).
"""

from __future__ import annotations

import io
import pickle
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from synapse_steps.context import RuntimeContext
from synapse_steps.errors import RemoteError, RunFailedError, StepFailedError
from synapse_steps.events import (
    HOOK_NAMES,
    Record,
    RunStarted,
    RunStatus,
    StepFailed,
    StepFinished,
)
from synapse_steps.journal.step_data import journaled_data
from synapse_steps.steps.base import StepResult
from synapse_steps.steps.request import RunOutcome

#: The persistent id standing for "the runtime on this side".
_RUNTIME_REF = "synapse_steps.runtime"


def ship(obj: Any, runtime: RuntimeContext, pickler: type[pickle.Pickler]) -> bytes:
    """Pickle ``obj`` with ``pickler`` (cloudpickle's), leaving ``runtime`` out as a reference."""

    class _Shipper(pickler):  # type: ignore[valid-type,misc]
        def persistent_id(self, candidate: Any) -> str | None:
            return _RUNTIME_REF if candidate is runtime else None

    buffer = io.BytesIO()
    _Shipper(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)
    return buffer.getvalue()


def land(blob: bytes, runtime: RuntimeContext) -> Any:
    """Unpickle what ``ship`` produced, with ``runtime`` in place of the sender's runtime."""

    class _Lander(pickle.Unpickler):
        def persistent_load(self, pid: Any) -> Any:
            if pid != _RUNTIME_REF:
                raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
            return runtime

    return _Lander(io.BytesIO(blob)).load()


class RecordBuffer:
    """A worker-side subscriber keeping every record, in order, until the driver drains them.

    The recorder already coalesces progress (one record per 0.1 s at most) and never drops
    metrics or lifecycle records, so the buffer keeps all it gets.
    """

    def __init__(self) -> None:
        self._records: list[Record] = []
        self._outcome: Outcome | None = None
        self._changed = threading.Condition()

    def _keep(self, record: Record) -> None:
        with self._changed:
            self._records.append(record)
            self._changed.notify_all()

    def _keep_result(self, record: StepFinished | StepFailed) -> None:
        # The live result does not pickle with its record (see events): what the driver's
        # journal needs of it travels beside it, data reduced to what the journal keeps.
        result = record.result
        if result is None:
            self._keep(record)
            return
        shipped: StepResult | None = StepResult(
            result.success, journaled_data(result.data), result.error, result.rollback_data
        )
        try:
            pickle.dumps(result.rollback_data, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            shipped = None  # the driver's journal keeps the step as not recoverable
        self._keep(WithResult(record, shipped))  # type: ignore[arg-type]

    def close(self, outcome: Outcome) -> None:
        with self._changed:
            self._outcome = outcome
            self._changed.notify_all()

    def take(self, wait: float) -> tuple[list[Record], Outcome | None]:
        """The records since the last call, waiting up to ``wait`` s for one (a long poll)."""
        with self._changed:
            if not self._records and self._outcome is None:
                self._changed.wait(wait)
            records, self._records = self._records, []
            # The outcome goes out only with (after) the last records.
            return records, self._outcome


for _type, _hook in HOOK_NAMES.items():
    keep = RecordBuffer._keep_result if _type in (StepFinished, StepFailed) else RecordBuffer._keep
    setattr(RecordBuffer, _hook, keep)


class WithResult(NamedTuple):
    """A ``StepFinished`` / ``StepFailed`` as it travels: the record and its plain result."""

    record: StepFinished | StepFailed
    result: StepResult | None

    def unwrap(self) -> Record:
        return self.record._replace(result=self.result)


@dataclass
class Outcome:
    """How a remote run ended, in plain data the driver turns back into a ``RunOutcome``."""

    status: str  # "succeeded" | "failed" | "interrupted" | "error"
    result: dict[str, Any] | None = None
    #: For a failed step: ``StepFailedError``'s fields, and the class name of what it raised.
    step: str | None = None
    error: str | None = None
    rollback_errors: tuple[str, ...] = ()
    error_type: str | None = None
    #: The remote exception's formatted traceback (its cause chain included).
    traceback: str | None = None
    #: Anything else the worker raised, pickled when it could be.
    exception: bytes | None = None
    #: Positions of the completed steps left in place, and where the run stopped.
    kept: tuple[int, ...] = ()
    stopped_at: int = 0
    #: The final context, shipped with the worker's runtime left out.
    context: bytes | None = None
    notes: list[str] = field(default_factory=list)


Dumps = Callable[[Any], bytes]


def outcome_of(run: RunOutcome | None, exc: BaseException | None, dumps: Dumps) -> Outcome:
    """The worker's ``Outcome`` of a run (``exc``: what was raised before it could run;
    ``dumps``: the pickler the driver's unpickling must match, cloudpickle's)."""
    error = exc if run is None else run.error
    kept = () if run is None else run.kept
    stopped_at = 0 if run is None else run.stopped_at
    if error is None:
        assert run is not None
        return Outcome("succeeded", result=run.result, kept=kept, stopped_at=stopped_at)
    text = "".join(traceback.format_exception(error))
    if isinstance(error, KeyboardInterrupt):
        return Outcome(
            "interrupted", error="interrupted", traceback=text, kept=kept, stopped_at=stopped_at
        )
    if isinstance(error, StepFailedError):
        cause = error.__cause__
        return Outcome(
            "failed", step=error.step, error=error.error, rollback_errors=error.rollback_errors,
            error_type=None if cause is None else type(cause).__name__, traceback=text,
            kept=kept, stopped_at=stopped_at,
        )  # fmt: skip
    return Outcome(
        "error",
        error=f"{type(error).__name__}: {error}",
        error_type=type(error).__name__,
        traceback=text,
        exception=travelling(error, dumps),
        kept=kept,
        stopped_at=stopped_at,
    )


def travelling(exc: BaseException, dumps: Dumps) -> bytes | None:
    """``exc`` pickled, if it also unpickles (a class whose ``__init__`` does not take its own
    ``args`` pickles but cannot be rebuilt); else ``None``."""
    try:
        blob = dumps(exc)
        pickle.loads(blob)
    except Exception:
        return None
    return blob


class RemoteTraceback(Exception):
    """The traceback text of an exception raised on a Ray worker (chained as the cause)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0]) if self.args else ""


def run_outcome(outcome: Outcome, where: str) -> RunOutcome:
    """The driver's ``RunOutcome`` of what the worker reported (its error rebuilt here)."""
    if outcome.status == "succeeded":
        return RunOutcome("succeeded", result=outcome.result)
    cause = RemoteTraceback(outcome.traceback) if outcome.traceback else None
    error: BaseException
    status: RunStatus = "failed"
    if outcome.status == "interrupted":
        status = "interrupted"
        error = KeyboardInterrupt(f"the remote run on {where} was interrupted and rolled back")
    elif outcome.status == "failed":
        error = StepFailedError(outcome.step or "?", outcome.error or "", outcome.rollback_errors)
        raised = f" as {outcome.error_type}" if outcome.error_type else ""
        error.add_note(f"(raised on {where}{raised}; the remote traceback is the cause above)")
    else:
        rebuilt = None if outcome.exception is None else pickle.loads(outcome.exception)
        if isinstance(rebuilt, BaseException):
            error = rebuilt
        else:
            error = RunFailedError(f"the run on {where} raised {outcome.error}")
        error.add_note(f"(raised on {where}; the remote traceback is the cause above)")
    error.__cause__ = cause
    return RunOutcome(status, error=error, kept=outcome.kept, stopped_at=outcome.stopped_at)


class Restamper:
    """Moves a worker's monotonic record times into the driver's clock.

    The offset is fixed by the first record (its arrival time minus its send time), so every
    duration stays exact and the driver's elapsed time and ETA read right.
    """

    def __init__(self, now: Callable[[], float], run_id: Callable[[], int]) -> None:
        self._now = now
        self._run_id = run_id
        self._offset: float | None = None

    def __call__(self, record: Record) -> Record:
        time = getattr(record, "time", None)
        if time is None:  # Logged: wall-clock only
            return record
        if self._offset is None:
            self._offset = self._now() - time
        moved: Record = record._replace(time=time + self._offset)  # type: ignore[call-arg]
        if type(moved) is RunStarted:
            # Each worker counts its own runs; the driver's store needs its own unique ids.
            moved = moved._replace(run_id=self._run_id())
        return moved


def sendable_context(context: Any, dumps: Dumps) -> Any:
    """``context`` made fit to travel back: a step's exception that could not be rebuilt on the
    driver (see ``travelling``) is replaced by a ``RemoteError`` with its type, message and
    traceback, so the whole context is not lost to one odd exception class."""
    for result in getattr(context, "step_results", []):
        exc = result.exception
        if exc is not None and travelling(exc, dumps) is None:
            result.exception = RemoteError(
                type(exc).__name__, str(exc), "".join(traceback.format_exception(exc))
            )
    return context
