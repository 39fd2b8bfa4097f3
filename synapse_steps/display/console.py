"""``ConsoleLogger``: readable lines for terminals, CI logs and log files.

Plain text only (no ANSI codes, no carriage returns): a progress line is printed when a category
crosses another tenth of its total, at most once per ``progress_interval`` seconds, and always at
100%, so a loop of a million ``set_progress`` calls writes a handful of lines.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from synapse_steps.display.base import RecordingLogger
from synapse_steps.events import (
    RunFinished,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRolledBack,
    StepSkipped,
    StepStarted,
)
from synapse_steps.output_mode import deterministic, format_duration
from synapse_steps.recorder import Recorder


class ConsoleLogger(RecordingLogger):
    """Prints the steps' events and progress, and (``lifecycle=True``) how the run goes.

    ``summary=True`` adds a table of the steps when a run fails or is interrupted.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        progress_interval: float = 1.0,
        recorder: Recorder | None = None,
        summary: bool = True,
        lifecycle: bool = True,
    ) -> None:
        self._stream = stream
        self.lifecycle = lifecycle
        self.progress_interval = progress_interval
        super().__init__(recorder)
        self.summary = summary
        #: category -> (last printed tenth, time of last print)
        self._printed: dict[str, tuple[int, float]] = {}

    def _say(self, line: str) -> None:
        """A line about the run itself (steps starting, finishing, rolling back)."""
        if self.lifecycle:
            self._write(line)

    def _write(self, line: str) -> None:
        # Resolved per write: pytest and notebooks replace sys.stdout after we are created.
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(line + "\n")
        stream.flush()

    # -- logger protocol ---------------------------------------------------------------------

    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
        super().log(event, data, file)
        self._write(f"{event}: {data}" + (f" [file: {file}]" if file else ""))

    def set_progress(self, current: int, total: int, category: str | None = None) -> None:
        super().set_progress(current, total, category)
        key = category or "progress"
        tenth = int(10 * current / total) if total > 0 else 10
        last = self._printed.get(key)
        if last is not None and tenth <= last[0]:
            return
        clock = time.monotonic()
        # In deterministic mode every tenth prints: which ones a time throttle drops varies.
        throttled = last is not None and clock - last[1] < self.progress_interval
        if last is not None and tenth < 10 and throttled and not deterministic():
            return
        self._printed[key] = (tenth, clock)
        percent = round(100 * current / total) if total > 0 else 100
        self._write(f"  {key}: {current}/{total} ({percent}%)")

    # -- lifecycle hooks -----------------------------------------------------------------------

    def on_run_start(self, record: RunStarted) -> None:
        super().on_run_start(record)
        self._printed.clear()
        self._say(self.recorder.run.describe_plan())

    def on_step_start(self, record: StepStarted) -> None:
        super().on_step_start(record)
        self._printed.pop(record.name, None)
        self._say(f"{self._position(record.position)} {record.name} ...")

    def on_step_skip(self, record: StepSkipped) -> None:
        super().on_step_skip(record)
        self._say(f"{self._position(record.position)} {record.name} skipped")

    def on_step_end(self, record: StepFinished) -> None:
        super().on_step_end(record)
        took = format_duration(record.duration)
        self._say(f"{self._position(record.position)} {record.name} done in {took}")

    def on_step_fail(self, record: StepFailed) -> None:
        super().on_step_fail(record)
        what = "INTERRUPTED" if record.interrupted else "FAILED"
        self._say(f"{self._position(record.position)} {record.name} {what}: {record.error}")

    def on_step_rollback(self, record: StepRolledBack) -> None:
        super().on_step_rollback(record)
        if record.error is None:
            self._say(f"  rolled back {record.name}")
        else:
            self._say(f"  rollback of {record.name} FAILED: {record.error}")

    def on_run_end(self, record: RunFinished) -> None:
        super().on_run_end(record)
        run = self.recorder.run
        self._say(f"run {run.outcome()} in {format_duration(record.duration)}")
        if self.summary and record.status != "succeeded":
            from synapse_steps.display.tables import summary_text

            self._say(summary_text(run))

    def _position(self, index: int) -> str:
        return f"[{index + 1}/{len(self.recorder.run.steps)}]"
