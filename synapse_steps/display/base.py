"""``RecordingLogger``: the common base of display loggers.

Every front end keeps a ``Recorder`` (so a run's DataFrames are available afterwards whatever was
drawn) and forwards each call to it before drawing.
"""

from __future__ import annotations

from typing import Any

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
from synapse_steps.output_mode import deterministic, format_duration
from synapse_steps.recorder import Recorder
from synapse_steps.run_state import RunState


class RecordingLogger:
    def __init__(self, recorder: Recorder | None = None) -> None:
        self.recorder = recorder if recorder is not None else Recorder()

    @property
    def run(self) -> RunState:
        return self.recorder.run

    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
        self.recorder.log(event, data, file)

    def set_progress(self, current: int, total: int, category: str | None = None) -> None:
        self.recorder.set_progress(current, total, category)

    def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
        self.recorder.set_metrics(value, category)

    def on_run_start(self, record: RunStarted) -> None:
        self.recorder.on_run_start(record)

    def on_step_start(self, record: StepStarted) -> None:
        self.recorder.on_step_start(record)

    def on_step_skip(self, record: StepSkipped) -> None:
        self.recorder.on_step_skip(record)

    def on_step_end(self, record: StepFinished) -> None:
        self.recorder.on_step_end(record)

    def on_step_fail(self, record: StepFailed) -> None:
        self.recorder.on_step_fail(record)

    def on_step_rollback(self, record: StepRolledBack) -> None:
        self.recorder.on_step_rollback(record)

    def on_run_progress(self, record: RunProgress) -> None:
        self.recorder.on_run_progress(record)

    def on_run_end(self, record: RunFinished) -> None:
        self.recorder.on_run_end(record)


def format_seconds(seconds: float | None) -> str:
    """``0.42s``, ``12s``, ``3:05``, ``1:02:03``; an em dash when unknown."""
    if seconds is None:
        return "—"
    if deterministic():  # nbval in CI compares outputs: no times there
        return format_duration(seconds)
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
