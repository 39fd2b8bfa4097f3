"""What a remote run sends across processes, and how each side reads it (no Ray import here).

* A workflow travels as one cloudpickle blob of ``(registry, context, name)``. The driver's
  ``RuntimeContext`` (front ends, widgets, a backend connection) cannot and must not travel: it
  is pickled as a reference and replaced by the worker's runtime on arrival, wherever it occurs
  in the object graph (a context's ``runtime_ctx``, a train action's). The final context comes
  back the same way, the worker's runtime replaced by the driver's. Classes defined in a
  notebook (module ``__main__``) travel by value: cloudpickle does that for ``__main__``.
* Records travel as they are (they pickle, dropping the live exception / step result); the
  worker's ``RecordBuffer`` keeps them in order until the driver drains them.
* The driver re-stamps each record's monotonic ``time`` into its own clock (``Restamper``).
"""

from __future__ import annotations

import io
import pickle
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from synapse_steps.context import RuntimeContext
from synapse_steps.errors import RunFailedError, StepFailedError
from synapse_steps.events import HOOK_NAMES, Record, RunStarted

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


for _hook in HOOK_NAMES.values():
    setattr(RecordBuffer, _hook, RecordBuffer._keep)


@dataclass
class Outcome:
    """How a remote run ended, in plain data the driver turns back into a result or error."""

    status: str  # "succeeded" | "failed" | "interrupted" | "error"
    result: dict[str, Any] | None = None
    #: For a failed step: ``StepFailedError``'s fields.
    step: str | None = None
    error: str | None = None
    rollback_errors: tuple[str, ...] = ()
    #: The remote exception's formatted traceback (its cause chain included).
    traceback: str | None = None
    #: Anything else the worker raised, pickled when it could be.
    exception: bytes | None = None
    #: The final context, shipped with the worker's runtime left out.
    context: bytes | None = None
    notes: list[str] = field(default_factory=list)


def outcome_of(exc: BaseException | None, result: dict[str, Any] | None) -> Outcome:
    """The worker's ``Outcome`` for a run that returned ``result`` or raised ``exc``."""
    if exc is None:
        return Outcome("succeeded", result=result)
    text = "".join(traceback.format_exception(exc))
    if isinstance(exc, KeyboardInterrupt):
        return Outcome("interrupted", error="interrupted", traceback=text)
    if isinstance(exc, StepFailedError):
        return Outcome(
            "failed", step=exc.step, error=exc.error, rollback_errors=exc.rollback_errors,
            traceback=text,
        )  # fmt: skip
    try:
        blob: bytes | None = pickle.dumps(exc)
        pickle.loads(blob)  # type: ignore[arg-type]
    except Exception:
        blob = None
    return Outcome("error", error=f"{type(exc).__name__}: {exc}", traceback=text, exception=blob)


class RemoteTraceback(Exception):
    """The traceback text of an exception raised on a Ray worker (chained as the cause)."""

    def __str__(self) -> str:
        return "\n" + str(self.args[0]) if self.args else ""


def raise_outcome(outcome: Outcome, where: str) -> None:
    """Raise on the driver what the worker raised (or return quietly on success)."""
    __tracebackhide__ = True
    cause = RemoteTraceback(outcome.traceback) if outcome.traceback else None
    if outcome.status == "succeeded":
        return
    if outcome.status == "interrupted":
        raise KeyboardInterrupt(f"the remote run on {where} was interrupted and rolled back")
    if outcome.status == "failed":
        failure = StepFailedError(outcome.step or "?", outcome.error or "", outcome.rollback_errors)
        failure.add_note(f"(raised on {where}; the remote traceback is the cause above)")
        raise failure from cause
    error: BaseException | None = None
    if outcome.exception is not None:
        error = pickle.loads(outcome.exception)
    if not isinstance(error, BaseException):
        error = RunFailedError(f"the run on {where} raised {outcome.error}")
    error.add_note(f"(raised on {where}; the remote traceback is the cause above)")
    raise error from cause


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
