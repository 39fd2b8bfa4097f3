"""A run as a stream of plain records.

Everything that happens in a run is one of the small immutable records below: the orchestrator's
lifecycle (run started, step started / skipped / finished / failed, rollback started, rolled back,
overall progress, run finished) and the steps' own calls (log, progress, metrics). The runtime's
store folds them into a ``RunState`` and hands each to the front ends that subscribed to it.

Records are plain data so that a stream can leave the process: each pickles, and ``to_dict`` /
``record_from_dict`` round-trip it through JSON. A live object may ride along locally (the
exception of a failed step, the ``StepResult`` of a finished one); it is left out of both forms,
where the exception travels as its type name, message and formatted traceback.

Adding an event type: define a record here, give it a hook name in ``HOOK_NAMES``, and teach
``RunState`` to fold it (a method named like the hook). Front ends that want it define the hook;
nothing else changes.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

RunStatus = Literal["succeeded", "failed", "interrupted"]


class PlannedStep(NamedTuple):
    """A step as the run plans it: its place in the overall progress bar."""

    position: int
    name: str
    weight: float
    #: Normalised share of the whole run, 0..1 (all-zero weights count steps equally).
    share: float
    #: Overall progress (0..1) when the step starts and when it ends.
    start: float
    end: float
    step_class: str
    #: The innermost wrapped step's class for wrappers such as ``LoggingStep``.
    inner_class: str | None


# -- lifecycle ------------------------------------------------------------------------------------


class RunStarted(NamedTuple):
    run_id: int
    steps: tuple[PlannedStep, ...]
    time: float
    #: Seconds since the epoch when the run started (``time`` is monotonic).
    wall_time: float
    #: What ran: the context class for a plain orchestrator, the action class for a train action.
    workflow: str
    #: The position the run starts executing from: 0, or a resumed run's failed step (the
    #: steps before it are reused).
    start: int = 0


class StepStarted(NamedTuple):
    position: int
    name: str
    time: float


class StepSkipped(NamedTuple):
    position: int
    name: str
    time: float


class StepFinished(NamedTuple):
    position: int
    name: str
    duration: float
    time: float
    #: The step's ``StepResult`` (local only: not pickled, not in ``to_dict``).
    result: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (StepFinished, (*self[:4], None))


class StepFailed(NamedTuple):
    position: int
    name: str
    error: str
    duration: float
    time: float
    #: True when the step was stopped by ``KeyboardInterrupt`` (the notebook's stop button).
    interrupted: bool
    #: The exception's class name and formatted traceback, when the step raised.
    error_type: str | None = None
    traceback: str | None = None
    #: The live exception (local only: not pickled, not in ``to_dict``).
    exception: BaseException | None = None
    #: The failed step's ``StepResult`` (local only), so its rollback data can be journaled.
    result: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        return (StepFailed, (*self[:8], None, None))


class StepRollbackStarted(NamedTuple):
    position: int
    name: str
    time: float


class StepRolledBack(NamedTuple):
    position: int
    name: str
    #: ``None`` when the rollback succeeded, else the rollback's own error text.
    error: str | None
    time: float


class RunProgress(NamedTuple):
    """Overall weighted progress after a step completed or was skipped (0..100)."""

    current: int
    total: int
    time: float


class RunFinished(NamedTuple):
    status: RunStatus
    steps_executed: int
    steps_total: int
    failed_step: str | None
    error: str | None
    #: Steps whose rollback completed, and ``"'<step>': <error>"`` for those whose rollback raised.
    rolled_back: tuple[str, ...]
    rollback_errors: tuple[str, ...]
    duration: float
    time: float
    #: Completed steps left in place by ``execute(on_failure="keep")``, for ``resume()``.
    kept: tuple[str, ...] = ()


class RunNotice(NamedTuple):
    """One line a run's view opens with, right after ``RunStarted``: what became of the
    workflow's previous run when no view could say it (a kernel restart, a killed process)."""

    text: str
    time: float


class StepReused(NamedTuple):
    """A step completed by an earlier run whose result a resumed run takes over."""

    position: int
    name: str
    time: float


# -- what steps report ----------------------------------------------------------------------------


class Logged(NamedTuple):
    event: str
    data: dict[str, Any]
    file: str | None
    #: Seconds since the epoch (a log line is read as a point in real time).
    wall_time: float


class ProgressReported(NamedTuple):
    """The latest progress of a category (the store coalesces rapid calls; see ``Recorder``)."""

    category: str
    current: float
    total: float
    time: float


class MetricsReported(NamedTuple):
    category: str
    values: dict[str, Any]
    time: float


Record = (
    RunStarted
    | StepStarted
    | StepSkipped
    | StepFinished
    | StepFailed
    | StepRollbackStarted
    | StepRolledBack
    | StepReused
    | RunProgress
    | RunFinished
    | RunNotice
    | Logged
    | ProgressReported
    | MetricsReported
)

#: Hook method name a subscriber defines to receive each record type (and the ``RunState``
#: method that folds it).
HOOK_NAMES: dict[type[Any], str] = {
    RunStarted: "on_run_start",
    StepStarted: "on_step_start",
    StepSkipped: "on_step_skip",
    StepFinished: "on_step_end",
    StepFailed: "on_step_fail",
    StepRollbackStarted: "on_rollback_start",
    StepRolledBack: "on_step_rollback",
    StepReused: "on_step_reuse",
    RunProgress: "on_run_progress",
    RunFinished: "on_run_end",
    RunNotice: "on_run_notice",
    Logged: "on_log",
    ProgressReported: "on_progress",
    MetricsReported: "on_metrics",
}
RECORD_TYPES: tuple[type[Any], ...] = tuple(HOOK_NAMES)
KNOWN_HOOKS: frozenset[str] = frozenset(HOOK_NAMES.values())
_BY_NAME: dict[str, type[Any]] = {record_type.__name__: record_type for record_type in RECORD_TYPES}
#: Fields that hold live objects: kept in memory, never serialised.
_LOCAL_FIELDS = frozenset({"result", "exception"})


#: Fields stored as tuples in a record and as lists in its dict form.
_TUPLE_FIELDS = frozenset({"rolled_back", "rollback_errors", "kept"})
#: Per record type, the fields ``to_dict`` must change (leave out, or convert): most have none,
#: so the hot ones (metrics, logs, progress) cost one dict update.
_SPECIAL_FIELDS: dict[type[Any], tuple[str, ...]] = {
    record_type: tuple(
        name
        for name in record_type._fields
        if name in _LOCAL_FIELDS or name in _TUPLE_FIELDS or name == "steps"
    )
    for record_type in RECORD_TYPES
}


def to_dict(record: Record) -> dict[str, Any]:
    """The record as JSON-able data: ``{"type": "StepStarted", "position": 0, ...}``.

    Values a step logged (``Logged.data``, ``MetricsReported.values``) are passed through as they
    are; a caller writing JSON decides how to encode what is not JSON (see the journal).
    """
    data: dict[str, Any] = {"type": type(record).__name__}
    data.update(zip(record._fields, record, strict=True))
    for name in _SPECIAL_FIELDS[type(record)]:
        if name in _LOCAL_FIELDS:
            del data[name]
        elif name == "steps":
            data[name] = [step._asdict() for step in data[name]]
        else:
            data[name] = list(data[name])
    return data


def record_from_dict(data: dict[str, Any]) -> Record:
    """Rebuild a record from ``to_dict``'s output (after a JSON round trip, too)."""
    record_type = _BY_NAME.get(data.get("type", ""))
    if record_type is None:
        raise ValueError(
            f"unknown record type {data.get('type')!r}; known: {', '.join(sorted(_BY_NAME))}"
        )
    values: dict[str, Any] = {}
    for name in record_type._fields:
        if name in _LOCAL_FIELDS:
            continue
        if name not in data and name in record_type._field_defaults:
            continue  # written by an older version that did not have the field
        value = data[name]
        if name == "steps":
            value = tuple(PlannedStep(**step) for step in value)
        elif name in ("rolled_back", "rollback_errors", "kept"):
            value = tuple(value)
        values[name] = value
    record: Record = record_type(**values)
    return record
