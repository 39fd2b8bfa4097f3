"""The state of a run as a display needs it, folded from lifecycle records and progress calls.

Displays draw; this model decides. It owns every number a user sees (step status, overall
fraction inside the running step, elapsed time, ETA, the outcome line), so the console, the
notebook widgets and the static summary always agree. It imports nothing heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from synapse_steps.events import (
    PlannedStep,
    RunFinished,
    RunProgress,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRolledBack,
    StepSkipped,
    StepStarted,
    now,
)
from synapse_steps.metrics import MetricStore

StepStatus = Literal[
    "pending", "running", "done", "skipped", "failed", "rolled back", "interrupted"
]
RunPhase = Literal["idle", "running", "succeeded", "failed", "interrupted"]


@dataclass
class StepState:
    plan: PlannedStep
    status: StepStatus = "pending"
    started: float | None = None
    duration: float | None = None
    error: str | None = None
    rolled_back: bool = False
    rollback_error: str | None = None
    #: Latest ``(current, total)`` per progress category the step reported.
    categories: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: The category reported last (its progress stands for the step's when the step's own
    #: category is absent).
    latest: str | None = None

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def fraction(self) -> float:
        """The step's own progress 0..1: its default category if reported, else the latest."""
        if self.status in ("done", "skipped"):
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


class RunState:
    """One run: its planned steps and everything reported about them so far."""

    def __init__(self) -> None:
        self.run_id = 0
        self.phase: RunPhase = "idle"
        self.steps: list[StepState] = []
        self.started: float | None = None
        self.finished: float | None = None
        #: The step inside ``execute`` now (read on every progress tick, so kept at hand).
        self.running_step: StepState | None = None
        #: Overall progress 0..1 after the last completed step (the callback's value / 100).
        self.completed_fraction = 0.0
        self.finish: RunFinished | None = None
        self.metrics = MetricStore()
        #: Progress reported while no step was running (e.g. outside an orchestrator).
        self.loose_categories: dict[str, tuple[float, float]] = {}
        self._by_name: dict[str, StepState] = {}

    # -- lifecycle records (same hook names as a logger, so a RunState can be fed directly) --

    def on_run_start(self, record: RunStarted) -> None:
        self.run_id = record.run_id
        self.phase = "running"
        self.started = record.time
        self.steps = [StepState(plan) for plan in record.steps]
        self._by_name = {state.name: state for state in self.steps}

    def on_step_start(self, record: StepStarted) -> None:
        state = self.steps[record.position]
        state.status = "running"
        state.started = record.time
        self.running_step = state

    def on_step_skip(self, record: StepSkipped) -> None:
        self.steps[record.position].status = "skipped"

    def on_step_end(self, record: StepFinished) -> None:
        state = self.steps[record.position]
        state.status = "done"
        state.duration = record.duration
        self.running_step = None

    def on_step_fail(self, record: StepFailed) -> None:
        state = self.steps[record.position]
        state.status = "interrupted" if record.interrupted else "failed"
        state.duration = record.duration
        state.error = record.error
        self.running_step = None

    def on_step_rollback(self, record: StepRolledBack) -> None:
        state = self.steps[record.position]
        state.rolled_back = True
        state.rollback_error = record.error
        if state.status == "done":
            state.status = "rolled back"

    def on_run_progress(self, record: RunProgress) -> None:
        self.completed_fraction = record.current / record.total if record.total else 1.0

    def on_run_end(self, record: RunFinished) -> None:
        self.phase = record.status
        self.finished = record.time
        self.finish = record
        self.running_step = None
        if record.status == "interrupted" and record.failed_step is not None:
            # Interrupted in can_skip(): no StepFailed record marked the step.
            state = self._by_name.get(record.failed_step)
            if state is not None and state.status == "pending":
                state.status = "interrupted"
                state.error = record.error

    # -- what steps report ---------------------------------------------------------------

    def on_progress(self, current: float, total: float, category: str | None) -> None:
        # A hot path (every set_progress call of every step): no property, no reordering.
        running = self.running_step
        if running is not None:
            key = category or running.plan.name
            running.categories[key] = (current, total)
            running.latest = key
        else:
            self.loose_categories[category or "progress"] = (current, total)

    def on_metrics(self, value: dict[str, object], category: str | None) -> None:
        self.metrics.add(value, category)

    # -- derived figures -------------------------------------------------------------------

    @property
    def overall_fraction(self) -> float:
        """Overall progress 0..1, advancing inside the running step by its own fraction."""
        if self.phase == "succeeded":
            return 1.0
        running = self.running_step
        if running is None:
            return self.completed_fraction
        plan = running.plan
        return max(self.completed_fraction, plan.start + (plan.end - plan.start) * running.fraction)

    def elapsed(self, at: float | None = None) -> float:
        if self.started is None:
            return 0.0
        end = self.finished if self.finished is not None else (now() if at is None else at)
        return max(0.0, end - self.started)

    def eta(self, at: float | None = None) -> float | None:
        """Seconds left, extrapolated from the weighted progress so far (None when unknown)."""
        if self.phase != "running":
            return 0.0 if self.phase == "succeeded" else None
        fraction = self.overall_fraction
        if fraction <= 0.0:
            return None
        elapsed = self.elapsed(at)
        return elapsed * (1.0 - fraction) / fraction

    @property
    def rolled_back_count(self) -> int:
        return sum(1 for state in self.steps if state.rolled_back)

    @property
    def rollback_errors(self) -> list[tuple[str, str]]:
        return [(s.name, s.rollback_error) for s in self.steps if s.rollback_error is not None]

    def outcome(self) -> str:
        """One line saying how the run ended (deterministic: no times)."""
        if self.phase == "idle":
            return "not started"
        if self.phase == "running":
            return f"running - {round(100 * self.overall_fraction)}%"
        finish = self.finish
        assert finish is not None
        rolled = self.rolled_back_count
        noun = "step" if rolled == 1 else "steps"
        if self.phase == "succeeded":
            skipped = sum(1 for s in self.steps if s.status == "skipped")
            text = f"succeeded - {finish.steps_executed} of {finish.steps_total} steps executed"
            return text + (f", {skipped} skipped" if skipped else "")
        if self.phase == "failed":
            text = f"failed at '{finish.failed_step}' - rolled back {rolled} {noun}"
        else:
            where = f" at '{finish.failed_step}'" if finish.failed_step else ""
            text = f"interrupted{where} - rolled back {rolled} {noun}"
        errors = self.rollback_errors
        if errors:
            text += f" ({len(errors)} rollback error{'s' if len(errors) > 1 else ''})"
        return text

    def describe_plan(self) -> str:
        """``Run: 3 steps [load_data 0.3, create_files 0.2, process 0.5]``."""
        steps = ", ".join(f"{s.name} {s.plan.weight:g}" for s in self.steps)
        count = len(self.steps)
        return f"Run: {count} step{'s' if count != 1 else ''} [{steps}]"


def _ratio(current: float, total: float) -> float:
    if total <= 0:
        return 0.0
    return min(max(current / total, 0.0), 1.0)
