"""The combined live view of a sweep: one row per run (name, status, progress, latest metrics),
and the static table it turns into when the sweep ends.

``row_text`` is the view model: every word and number of a row comes from the run's
``RunState``. In a Jupyter kernel with ipywidgets each row is a line of standard widgets whose
values change in place; elsewhere status changes print as console lines. When the sweep ends,
the view gives way to one static table (per variant: its params, how it ended, why a failed one
failed, its final metrics), as a single run's view gives way to its record: the widgets' output
is removed (``display.summary.remove_live``), so a saved notebook and the offline pages show the
sweep once, readable without widget state.
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
    #: Why a failed (or interrupted) run stopped: its step's error; "" otherwise.
    reason: str = ""


def row_text(name: str, state: RunState) -> RowText:
    """What a sweep row shows for a run in ``state``."""
    reason = ""
    if state.phase == "idle":
        status = "waiting"
    elif state.phase == "running" and state.running_step is not None:
        status = f"running {state.running_step.name}"
    elif state.phase in ("failed", "interrupted") and state.finish is not None:
        where = f" at {state.finish.failed_step}" if state.finish.failed_step else ""
        status = f"{state.phase}{where}"
        failure = state.failure
        reason = failure.error if failure is not None else (state.finish.error or "")
    else:
        status = state.phase
    latest = state.metrics.latest()
    values = {name: value for group in latest.values() for name, value in group.items()}
    metrics = " ".join(f"{key}={value:.4g}" for key, value in values.items())
    return RowText(name, status, state.overall_fraction, metrics, reason)


class SweepRow(NamedTuple):
    """One variant in the sweep's final table."""

    name: str
    params: dict[str, Any]
    outcome: str
    reason: str
    metrics: dict[str, float]


def table_bundle(rows: Sequence[SweepRow]) -> dict[str, str]:
    """The sweep's final table: HTML (status colours for light and dark themes) and its text."""
    import html

    from synapse_steps.display.tables import text_table
    from synapse_steps.display.theme import CSS, css_class

    params = _union(row.params for row in rows)
    metrics = _union(row.metrics for row in rows)
    columns = ["run", *params, "outcome", "reason", *metrics]
    cells = [
        [
            row.name,
            *(_cell(row.params.get(key, "")) for key in params),
            row.outcome,
            row.reason,
            *(_cell(row.metrics[key]) if key in row.metrics else "" for key in metrics),
        ]
        for row in rows
    ]
    failed = sum(1 for row in rows if row.outcome != "succeeded")
    caption = f"Sweep: {len(rows)} runs, {len(rows) - failed} succeeded" + (
        f", {failed} did not" if failed else ""
    )
    head = "".join(f'<th style="text-align:left">{html.escape(c)}</th>' for c in columns)
    body = []
    for row, texts in zip(rows, cells, strict=True):
        kind = "succeeded" if row.outcome == "succeeded" else row.outcome.split(" ")[0]
        tds = []
        for column, text in zip(columns, texts, strict=True):
            text = html.escape(text)
            if column == "outcome":
                text = f'<span class="{css_class(kind)}">{text}</span>'
            tds.append(f'<td style="text-align:left">{text}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    markup = (
        f'{CSS}<table class="synapse-steps synapse-steps-sweep">'
        f'<caption style="text-align:left">{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    return {"text/html": markup, "text/plain": caption + "\n" + text_table(columns, cells)}


def _union(mappings: Any) -> list[str]:
    keys: list[str] = []
    for mapping in mappings:
        keys.extend(key for key in mapping if key not in keys)
    return keys


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


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
            print(_line(row))
        self._last_status[index] = row.status

    def close(self, table: Sequence[SweepRow] | None = None) -> None:
        """The final state of every row (a redraw skipped by the throttle is drawn now); then,
        given the sweep's ``table``, the view gives way to it (the static record)."""
        for index in range(len(self.names)):
            row = row_text(self.names[index], self.state(index))
            if self._widgets is not None:
                self._widgets.draw(index, row)
            elif self.mode != "off" and row.status != self._last_status[index]:
                print(_line(row))
        if table is None or self.mode == "off":
            return
        bundle = table_bundle(table)
        if self._widgets is None:
            print(bundle["text/plain"])
            return
        from synapse_steps.display.summary import remove_live, show

        # The table first, then the view goes (its widgets, then its output): the page never
        # jumps to an empty cell.
        show(bundle, raw=True)
        self._widgets.close()
        remove_live(self._widgets.handle)


def _line(row: RowText) -> str:
    """A console line: ``[run 4] failed at train: diverged at epoch 0  loss=12.25``."""
    reason = f": {row.reason}" if row.reason else ""
    return f"[{row.name}] {row.status}{reason}" + (f"  {row.metrics}" if row.metrics else "")


class _Widgets:
    """The widget form: a header and one ``HBox`` per run."""

    def __init__(self, names: Sequence[str], params: Sequence[dict[str, Any]]) -> None:
        import ipywidgets as widgets

        self.handle: Any = None
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
            metrics = widgets.HTML("")
            metrics.layout.width = "30%"
            self.rows.append((status, bar, metrics))
            boxes.append(widgets.HBox([title, status, bar, metrics]))
        self.box = _sweep_box(boxes)

    def show(self) -> None:
        from synapse_steps.display.summary import show_live

        self.handle = show_live(self.box)

    def draw(self, index: int, row: RowText) -> None:
        import html

        from synapse_steps.display.theme import CSS, css_class

        status, bar, metrics = self.rows[index]
        status.value = row.status
        bar.value = row.fraction
        bar.bar_style = _BAR_STYLE.get(row.status.split(" ")[0], "")
        # A failed run says why beside its bar (its metrics follow).
        reason = ""
        if row.reason:
            kind = css_class(row.status.split(" ")[0])
            reason = f'{CSS}<span class="{kind}">{html.escape(row.reason)}</span> '
        metrics.value = reason + html.escape(row.metrics)

    def close(self) -> None:
        for widget in self.box.children:
            for child in widget.children:
                child.close()
            widget.close()
        self.box.close()


_BAR_STYLE = {"running": "info", "succeeded": "success", "failed": "danger"}
_BAR_STYLE["interrupted"] = "warning"
_BAR_STYLE["rolling"] = "warning"


def _sweep_box(boxes: list[Any]) -> Any:
    import ipywidgets as widgets

    class SweepBox(widgets.VBox):  # type: ignore[misc]
        # Empty: the view is removed when the sweep ends, and its static table (shown below
        # it) is what a saved notebook, GitHub and nbval read.
        def __repr__(self) -> str:
            return ""

    return SweepBox(boxes)
