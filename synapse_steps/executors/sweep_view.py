"""The combined live view of a sweep: one row per run (name, status, progress, latest metrics).

``row_text`` is the view model: every word and number of a row comes from the run's
``RunState``. In a Jupyter kernel with ipywidgets each row is a line of standard widgets whose
values change in place; elsewhere status changes print as console lines.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from synapse_steps.events import HOOK_NAMES, MetricsReported, ProgressReported, Record
from synapse_steps.run_state import RunState

if TYPE_CHECKING:
    from synapse_steps.context import RuntimeContext

#: Seconds between two redraws of a row for progress and metrics (lifecycle redraws at once).
REDRAW_INTERVAL = 0.1


class RowText(NamedTuple):
    name: str
    status: str
    fraction: float
    metrics: str


def row_text(name: str, state: RunState) -> RowText:
    """What a sweep row shows for a run in ``state``."""
    if state.phase == "idle":
        status = "waiting"
    elif state.phase == "running" and state.running_step is not None:
        status = f"running {state.running_step.name}"
    elif state.phase in ("failed", "interrupted") and state.finish is not None:
        where = f" at {state.finish.failed_step}" if state.finish.failed_step else ""
        status = f"{state.phase}{where}"
    else:
        status = state.phase
    latest = state.metrics.latest()
    values = {name: value for group in latest.values() for name, value in group.items()}
    metrics = " ".join(f"{key}={value:.4g}" for key, value in values.items())
    return RowText(name, status, state.overall_fraction, metrics)


class _RowFeed:
    """A run's only front end: tells the sweep view that row ``index`` changed."""

    def __init__(self, view: SweepView, index: int) -> None:
        self.view = view
        self.index = index

    def _changed(self, record: Record) -> None:
        self.view.changed(self.index, type(record) not in (ProgressReported, MetricsReported))


for _hook in HOOK_NAMES.values():
    setattr(_RowFeed, _hook, _RowFeed._changed)


def row_view(view: SweepView, index: int) -> _RowFeed:
    return _RowFeed(view, index)


class SweepView:
    """Rows for ``names``; ``attach`` gives it the runtimes whose states it draws."""

    def __init__(
        self, names: Sequence[str], params: Sequence[dict[str, Any]], display: str | None
    ) -> None:
        from synapse_steps.display.auto import choose_display

        self.names = list(names)
        self.params = list(params)
        self.mode = choose_display(display)
        self._runtimes: list[RuntimeContext] = []
        self._last_draw = [0.0] * len(self.names)
        self._last_status = [""] * len(self.names)
        self._widgets: Any = None
        if self.mode == "widgets":
            self._widgets = _Widgets(self.names, self.params)

    def attach(self, runtimes: Sequence[RuntimeContext]) -> None:
        self._runtimes = list(runtimes)
        if self._widgets is not None:
            self._widgets.show()

    def state(self, index: int) -> RunState:
        return self._runtimes[index].recorder.run

    def rows(self) -> list[RowText]:
        return [row_text(name, self.state(i)) for i, name in enumerate(self.names)]

    def changed(self, index: int, lifecycle: bool) -> None:
        now = time.perf_counter()
        if not lifecycle and now - self._last_draw[index] < REDRAW_INTERVAL:
            return
        self._last_draw[index] = now
        row = row_text(self.names[index], self.state(index))
        if self._widgets is not None:
            self._widgets.draw(index, row)
        elif self.mode != "off" and row.status != self._last_status[index]:
            print(f"[{row.name}] {row.status}" + (f"  {row.metrics}" if row.metrics else ""))
        self._last_status[index] = row.status

    def close(self) -> None:
        """The final state of every row (a redraw skipped by the throttle is drawn now)."""
        for index in range(len(self.names)):
            row = row_text(self.names[index], self.state(index))
            if self._widgets is not None:
                self._widgets.draw(index, row)
            elif self.mode != "off" and row.status != self._last_status[index]:
                print(f"[{row.name}] {row.status}" + (f"  {row.metrics}" if row.metrics else ""))


class _Widgets:
    """The widget form: a header and one ``HBox`` per run."""

    def __init__(self, names: Sequence[str], params: Sequence[dict[str, Any]]) -> None:
        import ipywidgets as widgets

        self.rows: list[tuple[Any, Any, Any]] = []
        boxes = []
        for name, given in zip(names, params, strict=True):
            label = ", ".join(f"{k}={v}" for k, v in given.items())
            title = widgets.HTML(f"<b>{name}</b> <small>{label}</small>")
            title.layout.width = "30%"
            status = widgets.Label("waiting")
            status.layout.width = "18%"
            bar = widgets.FloatProgress(value=0.0, min=0.0, max=1.0)
            bar.layout.width = "22%"
            metrics = widgets.Label("")
            metrics.layout.width = "30%"
            self.rows.append((status, bar, metrics))
            boxes.append(widgets.HBox([title, status, bar, metrics]))
        self.box = _sweep_box(boxes, count=len(boxes))

    def show(self) -> None:
        from IPython.display import display

        display(self.box)  # type: ignore[no-untyped-call]

    def draw(self, index: int, row: RowText) -> None:
        status, bar, metrics = self.rows[index]
        status.value = row.status
        bar.value = row.fraction
        bar.bar_style = _BAR_STYLE.get(row.status.split(" ")[0], "")
        metrics.value = row.metrics


_BAR_STYLE = {"running": "info", "succeeded": "success", "failed": "danger"}
_BAR_STYLE["interrupted"] = "warning"
_BAR_STYLE["rolling"] = "warning"


def _sweep_box(boxes: list[Any], count: int) -> Any:
    import ipywidgets as widgets

    class SweepBox(widgets.VBox):  # type: ignore[misc]
        # The text form a saved notebook (and nbval) shows: fixed, no live values.
        def __repr__(self) -> str:
            return f"<sweep view: {count} runs>"

    return SweepBox(boxes)
