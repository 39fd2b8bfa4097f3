"""``Recorder``: a logger that keeps a run's history in memory and turns it into DataFrames.

pandas and matplotlib are imported only by the methods that return a DataFrame or a figure.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any, NamedTuple

from synapse_steps.events import (
    RunFinished,
    RunProgress,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRolledBack,
    StepSkipped,
    StepStarted,
)
from synapse_steps.run_state import RunState

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


class LoggedEvent(NamedTuple):
    run_id: int
    time: float  # seconds since the epoch
    event: str
    data: dict[str, Any]
    file: str | None


class Recorder:
    """Records what steps report and how each run went.

    ``runs`` holds one ``RunState`` per run (the last ``max_runs``); ``events`` the latest
    ``max_events`` logged events across runs. Metric history lives in each run's ``metrics``.
    """

    def __init__(self, max_events: int = 100_000, max_runs: int = 20) -> None:
        self.events: deque[LoggedEvent] = deque(maxlen=max_events)
        self.runs: deque[RunState] = deque(maxlen=max_runs)
        self.runs.append(RunState())  # holds what is reported before any run starts

    @property
    def run(self) -> RunState:
        """The current (or last) run."""
        return self.runs[-1]

    # -- logger protocol ---------------------------------------------------------------------

    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
        self.events.append(LoggedEvent(self.run.run_id, time.time(), event, data, file))

    def set_progress(self, current: int, total: int, category: str | None = None) -> None:
        self.runs[-1].on_progress(current, total, category)

    def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
        self.runs[-1].metrics.add(value, category)

    # -- lifecycle hooks -----------------------------------------------------------------------

    def on_run_start(self, record: RunStarted) -> None:
        state = self.runs[-1]
        if state.phase != "idle":
            state = RunState()
            self.runs.append(state)
        state.on_run_start(record)

    def on_step_start(self, record: StepStarted) -> None:
        self.runs[-1].on_step_start(record)

    def on_step_skip(self, record: StepSkipped) -> None:
        self.runs[-1].on_step_skip(record)

    def on_step_end(self, record: StepFinished) -> None:
        self.runs[-1].on_step_end(record)

    def on_step_fail(self, record: StepFailed) -> None:
        self.runs[-1].on_step_fail(record)

    def on_step_rollback(self, record: StepRolledBack) -> None:
        self.runs[-1].on_step_rollback(record)

    def on_run_progress(self, record: RunProgress) -> None:
        self.runs[-1].on_run_progress(record)

    def on_run_end(self, record: RunFinished) -> None:
        self.runs[-1].on_run_end(record)

    # -- history as tables -------------------------------------------------------------------

    def steps_frame(self) -> pd.DataFrame:
        """One row per step of the last run: step, status, duration (s), error."""
        from synapse_steps.display.tables import steps_frame

        return steps_frame(self.run)

    def metrics_frame(self) -> pd.DataFrame:
        """Long format metric history of the last run: category, metric, x, value."""
        from synapse_steps.display.tables import metrics_frame

        return metrics_frame(self.run.metrics)

    def events_frame(self) -> pd.DataFrame:
        """The logged events: time (datetime), event, data, file, run_id."""
        from synapse_steps.display.tables import events_frame

        return events_frame(self.events)

    def plot_metrics(self) -> Figure:
        """A static matplotlib figure of the last run's metrics, one axes per metric."""
        from synapse_steps.display.plots import metrics_figure

        return metrics_figure(self.run.metrics)

    def __repr__(self) -> str:
        return (
            f"<Recorder: {len(self.events)} events, last run {self.run.outcome()}, "
            f"{len(self.run.metrics)} metric points>"
        )
