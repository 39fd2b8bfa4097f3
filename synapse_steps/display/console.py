"""``ConsoleLogger``: readable lines for terminals, CI logs and log files.

Plain text only (no ANSI codes, no carriage returns). Progress is printed when a category crosses
another tenth of its total, at most once per ``progress_interval`` seconds, and always at 100%;
metrics at most once per ``metrics_interval`` seconds per category, and the latest ones when the
step ends (in deterministic mode: a category's first metrics, then the latest at its step's end).
So a loop of a million calls writes a handful of lines.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from synapse_steps._text import safe_repr, safe_str
from synapse_steps.display.base import FrontEnd, format_seconds
from synapse_steps.events import (
    Logged,
    MetricsReported,
    ProgressReported,
    RunFinished,
    RunNotice,
    RunStarted,
    StepFailed,
    StepFinished,
    StepReused,
    StepRolledBack,
    StepSkipped,
    StepStarted,
)
from synapse_steps.output_mode import deterministic


class ConsoleLogger(FrontEnd):
    """Prints the steps' events, progress and metrics, and (``lifecycle=True``) how the run goes.

    ``summary=True`` adds a table of the steps when a run fails or is interrupted.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        progress_interval: float = 1.0,
        metrics_interval: float = 2.0,
        summary: bool = True,
        lifecycle: bool = True,
    ) -> None:
        super().__init__()
        self._stream = stream
        self.lifecycle = lifecycle
        self.progress_interval = progress_interval
        self.metrics_interval = metrics_interval
        self.summary = summary
        #: category -> (last printed tenth, time of last print)
        self._printed: dict[str, tuple[int, float]] = {}
        #: category -> (latest metrics not printed yet, time of last print)
        self._metrics: dict[str, tuple[dict[str, Any] | None, float]] = {}

    def _say(self, line: str) -> None:
        """A line about the run itself (steps starting, finishing, rolling back)."""
        if self.lifecycle:
            self._write(line)

    def _write(self, line: str) -> None:
        # Resolved per write: pytest and notebooks replace sys.stdout after we are created.
        stream = self._stream if self._stream is not None else sys.stdout
        stream.write(line + "\n")
        stream.flush()

    # -- what steps report -------------------------------------------------------------------

    def on_log(self, record: Logged) -> None:
        file = f" [file: {record.file}]" if record.file else ""
        # safe_repr: a logged value may have no text (nested too deeply, a broken __repr__).
        self._write(f"{record.event}: {safe_repr(record.data)}{file}")

    def on_progress(self, record: ProgressReported) -> None:
        key, current, total = record.category, record.current, record.total
        tenth = int(10 * current / total) if total > 0 else 10
        last = self._printed.get(key)
        if last is not None and tenth <= last[0]:
            return
        # In deterministic mode every tenth prints: which ones a time throttle drops varies.
        throttled = last is not None and record.time - last[1] < self.progress_interval
        if last is not None and tenth < 10 and throttled and not deterministic():
            return
        self._printed[key] = (tenth, record.time)
        percent = round(100 * current / total) if total > 0 else 100
        self._write(f"  {key}: {current:g}/{total:g} ({percent}%)")

    def on_metrics(self, record: MetricsReported) -> None:
        _, printed_at = self._metrics.get(record.category, (None, float("-inf")))
        # In deterministic mode which lines a time throttle lets through would vary from run to
        # run: a category's first metrics print, the latest ones when its step ends.
        first = printed_at == float("-inf")
        if first or (record.time - printed_at >= self.metrics_interval and not deterministic()):
            self._write(_metrics_line(record.category, record.values))
            self._metrics[record.category] = (None, record.time)
        else:
            self._metrics[record.category] = (record.values, printed_at)

    def _flush_metrics(self) -> None:
        for category, (values, printed_at) in list(self._metrics.items()):
            if values is not None:
                self._write(_metrics_line(category, values))
                self._metrics[category] = (None, printed_at)

    # -- lifecycle -------------------------------------------------------------------------------

    def on_run_start(self, record: RunStarted) -> None:
        self._printed.clear()
        self._metrics.clear()
        self._say(self.run.describe_plan())

    def on_run_notice(self, record: RunNotice) -> None:
        self._say(f"note: {record.text}")

    def on_step_start(self, record: StepStarted) -> None:
        # Categories start afresh in each step (two steps may share "batches").
        self._printed.clear()
        self._say(f"{self._position(record.position)} {record.name} ...")

    def on_step_skip(self, record: StepSkipped) -> None:
        self._say(f"{self._position(record.position)} {record.name} skipped")

    def on_step_reuse(self, record: StepReused) -> None:
        self._say(f"{self._position(record.position)} {record.name} reused from the kept run")

    def on_step_end(self, record: StepFinished) -> None:
        self._flush_metrics()
        took = format_seconds(record.duration)
        self._say(f"{self._position(record.position)} {record.name} done in {took}")

    def on_step_fail(self, record: StepFailed) -> None:
        self._flush_metrics()
        what = "INTERRUPTED" if record.interrupted else "FAILED"
        self._say(f"{self._position(record.position)} {record.name} {what}: {record.error}")

    def on_step_rollback(self, record: StepRolledBack) -> None:
        # In run_state's words, as the notebook view's table and the DataFrames put it.
        state = self.run.steps[record.position]
        if state.rollback == "rolled back":
            self._say(f"  rolled back {record.name}")
        else:
            self._say(f"  rollback failed for {record.name}: {state.rollback_error}")

    def on_run_end(self, record: RunFinished) -> None:
        run = self.run
        self._say(f"run {run.outcome()} in {format_seconds(record.duration)}")
        if self.summary and record.status != "succeeded":
            from synapse_steps.display.tables import summary_text

            self._say(summary_text(run))

    def _position(self, index: int) -> str:
        return f"[{index + 1}/{len(self.run.steps)}]"


def _metrics_line(category: str, values: dict[str, Any]) -> str:
    shown = " ".join(f"{name}={_number(value)}" for name, value in values.items())
    return f"  {category}: {shown}"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return safe_str(value)  # an int past 4,300 digits has no str()
