"""The state of a run, folded from its records.

Displays draw; this model decides. It owns every number and word a user sees (step status,
overall fraction inside the running step, elapsed time, ETA, the outcome line), so the console,
the notebook view and the recorder's tables always agree. ``apply(record)`` folds any record;
the methods are named like the front-end hooks, so a record stream rebuilds the same state.
It imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from synapse_steps.events import (
    HOOK_NAMES,
    Logged,
    MetricsReported,
    PlannedStep,
    ProgressReported,
    Record,
    RunFinished,
    RunNotice,
    RunProgress,
    RunStarted,
    StepFailed,
    StepFinished,
    StepReused,
    StepRollbackStarted,
    StepRolledBack,
    StepSkipped,
    StepStarted,
)
from synapse_steps.metrics import MetricStore

StepStatus = Literal[
    "pending", "running", "done", "reused", "skipped", "failed", "interrupted", "not run"
]
RollbackStatus = Literal["rolling back", "rolled back", "rollback failed"]
RunPhase = Literal["idle", "running", "rolling back", "succeeded", "failed", "interrupted"]


class _NoProgress(Mapping[str, tuple[float, float]]):
    """The progress of a step that reported none: one empty mapping shared by every such step
    (a dict per step would cost every run, most of whose steps report none)."""

    def __getitem__(self, key: str) -> tuple[float, float]:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:  # immutable: a dataclass may take it as a default
        return 0

    def __repr__(self) -> str:
        return "{}"


_NO_PROGRESS = _NoProgress()


@dataclass(init=False)
class StepState:
    plan: PlannedStep
    #: What execution did.
    status: StepStatus = "pending"
    #: What rollback did, once it started (None: never rolled back).
    rollback: RollbackStatus | None = None
    started: float | None = None
    duration: float | None = None
    error: str | None = None
    error_type: str | None = None
    traceback: str | None = None
    rollback_started: float | None = None
    rollback_duration: float | None = None
    rollback_error: str | None = None
    #: Latest ``(current, total)`` per progress category the step reported.
    categories: Mapping[str, tuple[float, float]] = _NO_PROGRESS
    #: The category reported last (its progress stands for the step's when the step's own
    #: category is absent).
    latest: str | None = None

    def __init__(self, plan: PlannedStep) -> None:
        # Written out: a run makes one per planned step, and the generated __init__ sets all
        # fifteen fields where the class defaults serve until something happens to the step
        # (categories too: an empty mapping shared until the step reports progress).
        self.plan = plan

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def rolled_back(self) -> bool:
        """True only when the rollback completed (a failed rollback is not a rollback)."""
        return self.rollback == "rolled back"

    @property
    def kind(self) -> str:
        """The status a display colours the step by: the latest thing that happened to it."""
        if self.rollback == "rolled back" and self.status in ("failed", "interrupted"):
            return self.status  # its failure is the news; the label adds "rolled back"
        return self.rollback or self.status

    @property
    def label(self) -> str:
        """The status in words: ``done``, ``rolling back``, ``failed, rollback failed`` ..."""
        if self.rollback is None:
            return self.status
        if self.status in ("failed", "interrupted"):
            return f"{self.status}, {self.rollback}"
        return self.rollback

    @property
    def fraction(self) -> float:
        """The step's own progress 0..1: its default category if reported, else the latest."""
        if self.status in ("done", "reused", "skipped"):
            return 1.0
        progress = self.categories.get(self.plan.name)
        if progress is None and self.latest is not None:
            progress = self.categories.get(self.latest)
        if progress is None:
            return 0.0
        return _ratio(*progress)

    def elapsed(self, at: float) -> float | None:
        if self.duration is not None:
            return self.duration
        if self.started is not None:
            return at - self.started
        return None

    def rollback_elapsed(self, at: float) -> float | None:
        if self.rollback_duration is not None:
            return self.rollback_duration
        if self.rollback_started is not None:
            return at - self.rollback_started
        return None


class RunState:
    """One run: its planned steps and everything reported about them so far."""

    def __init__(self) -> None:
        self.run_id = 0
        self.workflow = ""
        self.phase: RunPhase = "idle"
        self.steps: list[StepState] = []
        self.started: float | None = None
        self.wall_started: float | None = None
        self.finished: float | None = None
        #: The step inside ``execute`` now (read on every progress tick, so kept at hand).
        self.running_step: StepState | None = None
        #: The step whose rollback is running now.
        self.rolling_back_step: StepState | None = None
        #: Overall progress 0..1 after the last completed step (its end on the plan).
        self.completed_fraction = 0.0
        #: Overall progress when the run stopped making progress (a failure or an interrupt):
        #: the bar stays there while the run rolls back.
        self.stopped_fraction: float | None = None
        self.failure: StepFailed | None = None
        self.finish: RunFinished | None = None
        self.metrics = MetricStore()
        #: Lines the run's view opens with (``RunNotice``: e.g. how the previous run ended).
        self.notices: list[str] = []
        #: Progress reported while no step was running (e.g. outside an orchestrator).
        self.loose_categories: dict[str, tuple[float, float]] = {}

    def apply(self, record: Record) -> None:
        """Fold any record into the state."""
        _FOLDS[type(record)](self, record)

    # -- lifecycle ---------------------------------------------------------------------------

    def on_run_start(self, record: RunStarted) -> None:
        self.run_id = record.run_id
        self.workflow = record.workflow
        self.phase = "running"
        self.started = record.time
        self.wall_started = record.wall_time
        self.steps = list(map(StepState, record.steps))

    def _step(self, position: int, name: str) -> StepState:
        """The step at ``position``; one this state never heard planned (a worker's store that
        runs a rollback of kept steps, a store attached mid-run) is added as it comes."""
        try:
            return self.steps[position]
        except IndexError:
            if position < 0:
                raise
        while len(self.steps) <= position:
            index = len(self.steps)
            label = name if index == position else ""
            plan = PlannedStep(index, label, 0.0, 0.0, 0.0, 0.0, "", None)
            self.steps.append(StepState(plan))
        return self.steps[position]

    def on_step_start(self, record: StepStarted) -> None:
        self.step_started(record.position, record.name, record.time)

    def step_started(self, position: int, name: str, time: float) -> None:
        """``on_step_start`` by fields: the store folds a record nobody hears without making it
        (see ``Recorder.step_started``). The two folds every step makes look their step up
        inline (``_step`` is the slow path)."""
        try:
            state = self.steps[position]
        except IndexError:
            state = self._step(position, name)
        state.status = "running"
        state.started = time
        self.running_step = state

    def on_step_skip(self, record: StepSkipped) -> None:
        state = self._step(record.position, record.name)
        state.status = "skipped"
        self.completed_fraction = state.plan.end

    def on_step_reuse(self, record: StepReused) -> None:
        state = self._step(record.position, record.name)
        state.status = "reused"
        self.completed_fraction = state.plan.end

    def on_step_end(self, record: StepFinished) -> None:
        self.step_finished(record.position, record.name, record.duration)

    def step_finished(self, position: int, name: str, duration: float) -> None:
        """``on_step_end`` by fields (see ``step_started``)."""
        try:
            state = self.steps[position]
        except IndexError:
            state = self._step(position, name)
        state.status = "done"
        state.duration = duration
        self.running_step = None
        self.completed_fraction = state.plan.end

    def on_step_fail(self, record: StepFailed) -> None:
        state = self._step(record.position, record.name)
        self.stopped_fraction = self.overall_fraction
        state.status = "interrupted" if record.interrupted else "failed"
        state.duration = record.duration
        state.error = record.error
        state.error_type = record.error_type
        state.traceback = record.traceback
        self.failure = record
        self.running_step = None
        self.phase = "rolling back"

    def on_rollback_start(self, record: StepRollbackStarted) -> None:
        state = self._step(record.position, record.name)
        # An interrupt between steps (no StepFailed came first), or ``rollback()`` of a run that
        # kept its completed steps after a failure.
        if self.phase != "rolling back":
            self.stopped_fraction = self.overall_fraction
            self.phase = "rolling back"
        state.rollback = "rolling back"
        state.rollback_started = record.time
        self.rolling_back_step = state

    def on_step_rollback(self, record: StepRolledBack) -> None:
        state = self._step(record.position, record.name)
        state.rollback = "rolled back" if record.error is None else "rollback failed"
        state.rollback_error = record.error
        if state.rollback_started is not None:
            state.rollback_duration = record.time - state.rollback_started
        self.rolling_back_step = None

    def on_run_progress(self, record: RunProgress) -> None:
        """Derived: the state takes a step's end on the plan when the step completes."""

    def on_run_end(self, record: RunFinished) -> None:
        if record.status != "succeeded" and self.stopped_fraction is None:
            self.stopped_fraction = self.overall_fraction
        self.phase = record.status
        self.finished = record.time
        self.finish = record
        self.running_step = None
        self.rolling_back_step = None
        if record.status == "interrupted" and record.failed_step is not None:
            # Interrupted in can_skip(): no StepFailed record marked the step.
            state = next((s for s in self.steps if s.name == record.failed_step), None)
            if state is not None and state.status == "pending":
                state.status = "interrupted"
                state.error = record.error
        for state in self.steps:
            # Nothing is waiting any more: a step the run never reached did not run.
            if state.status == "pending":
                state.status = "not run"

    def on_run_notice(self, record: RunNotice) -> None:
        self.notices.append(record.text)

    # -- what steps report -------------------------------------------------------------------

    def on_log(self, record: Logged) -> None:
        """Log lines are kept by the recorder, across runs; the run state has no use for them."""

    def on_progress(self, record: ProgressReported) -> None:
        self.progress(record.current, record.total, record.category)

    def on_metrics(self, record: MetricsReported) -> None:
        self.metrics.add(record.values, record.category)

    def progress(self, current: float, total: float, category: str | None) -> None:
        """A step's progress (a hot path: called for every ``set_progress``)."""
        running = self.running_step
        if running is not None:
            key = category or running.plan.name
            categories = running.categories
            if categories is _NO_PROGRESS:
                categories = running.categories = {}
            categories[key] = (current, total)  # type: ignore[index]
            running.latest = key
        else:
            self.loose_categories[category or "progress"] = (current, total)

    # -- derived figures ---------------------------------------------------------------------

    @property
    def overall_fraction(self) -> float:
        """Overall progress 0..1, advancing inside the running step by its own fraction.

        Once a run failed or was interrupted it stays where that happened (rollback is not
        progress backwards).
        """
        if self.phase == "succeeded":
            return 1.0
        if self.stopped_fraction is not None:
            return self.stopped_fraction
        running = self.running_step
        if running is None:
            return self.completed_fraction
        plan = running.plan
        return max(self.completed_fraction, plan.start + (plan.end - plan.start) * running.fraction)

    def elapsed(self, at: float) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else at
        return max(0.0, end - self.started)

    def eta(self, at: float) -> float | None:
        """Seconds left, extrapolated from the weighted progress so far (None when unknown)."""
        if self.phase != "running":
            return 0.0 if self.phase == "succeeded" else None
        fraction = self.overall_fraction
        if fraction <= 0.0:
            return None
        return self.elapsed(at) * (1.0 - fraction) / fraction

    @property
    def rolled_back_count(self) -> int:
        return sum(1 for state in self.steps if state.rollback == "rolled back")

    @property
    def rollback_errors(self) -> list[tuple[str, str]]:
        return [(s.name, s.rollback_error) for s in self.steps if s.rollback_error is not None]

    def outcome(self) -> str:
        """One line saying how the run ended (deterministic: no times)."""
        if self.phase == "idle":
            return "not started"
        if self.phase == "running":
            return f"running - {round(100 * self.overall_fraction)}%"
        if self.phase == "rolling back":
            failure = self.failure
            where = f" after '{failure.name}' {self._failed_word()}" if failure else ""
            return f"rolling back{where}"
        finish = self.finish
        assert finish is not None
        if self.phase == "succeeded":
            skipped = sum(1 for s in self.steps if s.status == "skipped")
            reused = sum(1 for s in self.steps if s.status == "reused")
            text = f"succeeded - {finish.steps_executed} of {finish.steps_total} steps executed"
            text += f", {reused} reused" if reused else ""
            return text + (f", {skipped} skipped" if skipped else "")
        where = f" at '{finish.failed_step}'" if finish.failed_step else ""
        if finish.kept:
            count = len(finish.kept)
            return (
                f"{self.phase}{where} - kept {count} completed step{'' if count == 1 else 's'} "
                "(fix the step, then resume(); or rollback())"
            )
        rolled = self.rolled_back_count
        text = f"{self.phase}{where} - rolled back {rolled} step{'' if rolled == 1 else 's'}"
        failed = [name for name, _ in self.rollback_errors]
        if failed:
            names = ", ".join(f"'{name}'" for name in failed)
            text += f"; rollback failed for {names}"
        return text

    def _failed_word(self) -> str:
        return "was interrupted" if self.failure and self.failure.interrupted else "failed"

    def describe_plan(self) -> str:
        """``Run: 3 steps [load_data 0.3, create_files 0.2, process 0.5]``."""
        steps = ", ".join(f"{s.name} {s.plan.weight:g}" for s in self.steps)
        count = len(self.steps)
        return f"Run: {count} step{'s' if count != 1 else ''} [{steps}]"


#: The method folding each record type, looked up once (``apply`` runs for every record).
_FOLDS: dict[type[Any], Callable[[RunState, Any], None]] = {
    record_type: getattr(RunState, hook) for record_type, hook in HOOK_NAMES.items()
}


def _ratio(current: float, total: float) -> float:
    if total <= 0:
        return 0.0
    return min(max(current / total, 0.0), 1.0)
