"""``NotebookLogger``: a live view of each run built from standard ipywidgets controls.

While a run goes, its view shows the plan, the overall bar, a row per step (status, own timer,
a bar per progress category), the metric plots and a log panel; a failure turns the run *rolling
back* at once, each step's rollback shows with its own timer, and the bar stops where the
failure happened. When the run ends, the view gives way to the run's static record (one
record per run, see ``record``): the view is closed and the record shown in its place, so a
saved notebook, GitHub and nbval read the outcome without any widget state.

Live updates only change widget traits; nothing is cleared or re-displayed during a run, which is
what nbval and every front end handle well. Updates are throttled by the runtime's clock (as
tqdm does): each trait change is a message to the browser costing ~100 us.

``compact=True`` draws one line per run (name, bar, percent, current step, latest metrics),
like tqdm: for runs in loops and sweeps.
"""

from __future__ import annotations

import html
import threading
import warnings
import weakref
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import ipywidgets as widgets

from synapse_steps._text import safe_repr
from synapse_steps.clock import Clock
from synapse_steps.display import kernel
from synapse_steps.display.base import FrontEnd, format_seconds
from synapse_steps.display.record import latest_metrics
from synapse_steps.display.summary import display_record, remove_live, show_live
from synapse_steps.display.theme import CSS, FIGURE_CLASS, css_class
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
    StepRollbackStarted,
    StepRolledBack,
    StepSkipped,
    StepStarted,
)
from synapse_steps.run_state import RunState, StepState

if TYPE_CHECKING:
    from synapse_steps.context import RuntimeContext

BAR_STYLES = {
    "pending": "",
    "not run": "",
    "running": "info",
    "done": "success",
    "reused": "success",
    "skipped": "",
    "failed": "danger",
    "interrupted": "warning",
    "rolling back": "warning",
    "rolled back": "warning",
    "rollback failed": "danger",
}
STATUS_ICONS = {
    "pending": "○",
    "not run": "–",
    "running": "▶",
    "done": "✔",
    "reused": "⤴",
    "skipped": "↷",
    "failed": "✖",
    "interrupted": "■",
    "rolling back": "↺",
    "rolled back": "↺",
    "rollback failed": "⚠",
}

#: One grid for the overall row and every step row, so bars and times line up.
LABEL_WIDTH, TIME_WIDTH, BARS_WIDTH, BAR_WIDTH = "27%", "12%", "61%", "68%"

#: Seconds between two redraws of a run that reports nothing (its timers still move).
TICK_SECONDS = 0.5

#: Views still on screen, to close the ones a re-run replaces.
_views: weakref.WeakSet[RunView] = weakref.WeakSet()


class RunWidget(widgets.VBox):  # type: ignore[misc]
    """The container users see while a run goes.

    Its text form is empty: the view is closed when the run ends, and the run's static record
    (shown below it) is what a saved notebook, GitHub and nbval read.
    """

    def __repr__(self) -> str:
        return ""


class _StepRow:
    def __init__(self, state: StepState) -> None:
        self.state = state
        self.label = widgets.HTML(layout=widgets.Layout(width=LABEL_WIDTH))
        self.timing = widgets.HTML(layout=widgets.Layout(width=TIME_WIDTH))
        self.bars = widgets.VBox(layout=widgets.Layout(width=BARS_WIDTH))
        self.box = widgets.HBox([self.label, self.timing, self.bars])
        self._bars: dict[str, tuple[widgets.FloatProgress, widgets.HTML]] = {}
        self._signature: tuple[Any, ...] = ()

    def all_widgets(self) -> list[widgets.Widget]:
        made: list[widgets.Widget] = [self.label, self.timing, self.bars, self.box]
        for bar, text in self._bars.values():
            made += [bar, text]
        return made

    def refresh(self, at: float) -> None:
        state = self.state
        # The time first: a reader seeing the new label sees the time that goes with it.
        # Its own time, and once it rolls back the rollback's beside it (counting from zero):
        # the step's time never swallows the rollback's, nor jumps back when it ends.
        self.timing.value = timing_html(state, at)
        signature = (state.status, state.error, state.rollback_error, state.rollback)
        if signature != self._signature:
            self._signature = signature
            self.label.value = step_label(state)
            for bar, _ in self._bars.values():
                bar.bar_style = BAR_STYLES[state.kind]
        for category, (current, total) in list(state.categories.items()):
            parts = self._bars.get(category)
            if parts is None:
                parts = self._add_bar(category)
            bar, text = parts
            bar.value = current / total if total > 0 else 0.0
            # The step's own category needs no caption: the row already names the step.
            caption = "" if category == state.name else f"<code>{html.escape(category)}</code> "
            text.value = f"{caption}{current:g}/{total:g}"

    def _add_bar(self, category: str) -> tuple[widgets.FloatProgress, widgets.HTML]:
        bar = widgets.FloatProgress(
            min=0.0,
            max=1.0,
            bar_style=BAR_STYLES[self.state.kind],
            layout=widgets.Layout(width=BAR_WIDTH),
        )
        text = widgets.HTML()
        self._bars[category] = (bar, text)
        self.bars.children = (*self.bars.children, widgets.HBox([bar, text]))
        return bar, text


def timing_html(state: StepState, at: float) -> str:
    """``1.02s``, then ``1.02s`` over ``+ 0.46s rollback`` (the column is narrow)."""
    ran = state.elapsed(at)
    undo = state.rollback_elapsed(at)
    text = "" if ran is None else format_seconds(ran)
    if undo is not None:
        undo_text = f"+ {format_seconds(undo)} rollback"
        text += f'{"<br>" if text else ""}<small style="white-space:nowrap">{undo_text}</small>'

    return text


def step_label(state: StepState) -> str:
    kind = state.kind
    cls = css_class(kind)
    text = (
        f'<span class="{cls}">{STATUS_ICONS[kind]}</span> '
        f"<b>{html.escape(state.name)}</b> "
        f'<span class="{cls}">{html.escape(state.label)}</span>'
    )
    if state.error:
        text += f'<br><span class="{css_class("failed")}">{html.escape(state.error)}</span>'
    if state.rollback_error:
        text += (
            f'<br><span class="{css_class("rollback failed")}">rollback failed: '
            f"{html.escape(state.rollback_error)}</span>"
        )
    return text


class RunView:
    """The widgets of one run, refreshed from its ``RunState``."""

    def __init__(self, run: RunState, log_lines: int, clock: Clock, *, compact: bool) -> None:
        self.run = run
        self.clock = clock
        self.compact = compact
        self.finished = False
        self.cell_key = _current_cell_key()
        self.header = widgets.HTML()
        self.bar = widgets.FloatProgress(
            min=0.0, max=1.0, bar_style="info", layout=widgets.Layout(width=BAR_WIDTH)
        )
        self.bar_text = widgets.HTML()
        self.elapsed = widgets.HTML(layout=widgets.Layout(width=TIME_WIDTH))
        self.rows = [] if compact else [_StepRow(state) for state in run.steps]
        self.plots = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap"))
        self._plots: dict[str, tuple[Any, widgets.Image]] = {}
        self._plotted_version = -1
        #: Points each category had when last drawn.
        self._plotted_points: dict[str, int] = {}
        self.log_lines: deque[str] = deque(maxlen=log_lines)
        self._log_dirty = False
        self.log_html = widgets.HTML()
        self.log_panel = widgets.Accordion(children=[self.log_html], selected_index=None)
        self.log_panel.set_title(0, f"Log (last {log_lines} events)")
        self.outcome = widgets.HTML()
        if compact:
            children = [widgets.HBox([self.header, self.bar, self.bar_text])]
            self.header.layout = widgets.Layout(width="25%")
        else:
            overall = widgets.HBox(
                [
                    widgets.HTML("<b>overall</b>", layout=widgets.Layout(width=LABEL_WIDTH)),
                    self.elapsed,
                    widgets.HBox(
                        [self.bar, self.bar_text], layout=widgets.Layout(width=BARS_WIDTH)
                    ),
                ]
            )
            children = [
                self.header,
                overall,
                *[row.box for row in self.rows],
                self.plots,
                self.log_panel,
                self.outcome,
            ]
        self.widget = RunWidget(children=children)
        #: The display handle of the view's output (to remove it when the run ends).
        self.handle: Any = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        _views.add(self)

    def tick_every(self, seconds: float) -> None:
        """Redraw every ``seconds`` until the run ends: timers move while a step (or its
        rollback) reports nothing."""

        def tick() -> None:
            while not self._stopped.wait(seconds):
                self.refresh()

        threading.Thread(target=tick, name="synapse-steps-view-ticker", daemon=True).start()

    # -- updates -------------------------------------------------------------------------------

    def add_log(self, line: str) -> None:
        self.log_lines.append(line)
        self._log_dirty = True

    def refresh(self, *, plots: bool = False, block: bool = False) -> bool:
        """Push the current state into the widgets; False if skipped (another thread is
        drawing, or the view is finished)."""
        if self.finished or not self._lock.acquire(blocking=block):
            return False
        try:
            self._refresh(plots)
        finally:
            self._lock.release()
        return True

    def _refresh(self, plots: bool) -> None:
        run = self.run
        at = self.clock.now()
        fraction = run.overall_fraction
        self.bar.value = fraction
        self.bar.bar_style = run_bar_style(run)
        self.elapsed.value = format_seconds(run.elapsed(at))
        eta = run.eta(at) if run.phase == "running" else None
        self.bar_text.value = f"<b>{100 * fraction:.0f}%</b>" + (
            f" · ETA {format_seconds(eta)}" if eta is not None else ""
        )
        self.header.value = CSS + header_html(run, compact=self.compact)
        if self.compact:
            self.bar_text.value += f" · {format_seconds(run.elapsed(at))}" + html.escape(
                latest_metrics(run, limit=4)
            )
            return
        for row in self.rows:
            row.refresh(at)
        if self._log_dirty:
            self._log_dirty = False
            self.log_html.value = (
                '<pre style="font-size:11px;max-height:240px;overflow:auto;margin:0">'
                + html.escape("\n".join(self.log_lines))
                + "</pre>"
            )
        if plots:
            self._redraw_plots()
        if run.phase in ("rolling back", "failed", "interrupted"):
            self.outcome.value = outcome_html(run)

    def _redraw_plots(self) -> None:
        store = self.run.metrics
        if store.version == self._plotted_version:
            return
        self._plotted_version = store.version
        from synapse_steps.display.plots import CategoryPlot

        for category in list(store.series):  # a worker thread may add a category meanwhile
            entry = self._plots.get(category)
            if entry is None:
                image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
                entry = (CategoryPlot(store, category), image)
                self._plots[category] = entry
                self.plots.children = (*self.plots.children, image)
            plot, image = entry
            # A category with no new point keeps its picture: a redraw costs tens of ms.
            points = sum(len(series) for series in list(store.series[category].values()))
            if self._plotted_points.get(category) == points:
                continue
            self._plotted_points[category] = points
            png = plot.render()
            # An auto figure is drawn for light pages: the view's style inverts it in dark
            # themes (theme.CSS). Set before the picture shows; add/remove_class send nothing
            # when the class is already as wanted.
            if plot.palette.inverted_in_dark:
                image.add_class(FIGURE_CLASS)
            else:
                image.remove_class(FIGURE_CLASS)
            image.value = png

    @property
    def has_plots(self) -> bool:
        return bool(self._plots)

    def finish(self) -> None:
        self._stopped.set()
        self.refresh(plots=not self.compact, block=True)
        self.finished = True

    def close(self) -> None:
        self._stopped.set()
        self.finished = True
        for widget in self._all_widgets():
            widget.close()
        _views.discard(self)

    def _all_widgets(self) -> list[widgets.Widget]:
        made: list[widgets.Widget] = [
            self.header,
            self.bar,
            self.bar_text,
            self.elapsed,
            self.plots,
            self.log_html,
            self.log_panel,
            self.outcome,
            self.widget,
        ]
        made += [child for child in self.widget.children if child not in made]
        made += [image for _, image in self._plots.values()]
        for row in self.rows:
            made += row.all_widgets()
        return made


def run_bar_style(run: RunState) -> str:
    """The overall bar's colour: the failure's colour from the moment a run stops progressing."""
    if run.phase == "succeeded":
        return "success"
    if run.phase == "running":
        return "info"
    failure = run.failure
    interrupted = run.phase == "interrupted" or (failure is not None and failure.interrupted)
    return "warning" if interrupted else "danger"


def header_html(run: RunState, *, compact: bool = False) -> str:
    running = run.running_step
    rolling = run.rolling_back_step
    if run.phase == "running" and running is not None:
        name = html.escape(running.name)
        doing = f'<span class="{css_class("running")}">running <b>{name}</b></span>'
    elif run.phase == "rolling back":
        what = f" <b>{html.escape(rolling.name)}</b>" if rolling is not None else ""
        doing = f'<span class="{css_class("rolling back")}">rolling back{what}</span>'
    else:
        doing = f'<span class="{css_class(run.phase)}">{html.escape(run.phase)}</span>'
    notices = notices_html(run)
    if compact:
        return f"{notices}<code>{html.escape(run.workflow or 'run')}</code> {doing}"
    return f"{notices}<b>{html.escape(run.describe_plan())}</b> — {doing}"


def notices_html(run: RunState) -> str:
    """The lines a run opens with (how the previous run ended, when no view showed it)."""
    return "".join(
        f'<div class="{css_class("interrupted")}">⚠ {html.escape(text)}</div>'
        for text in run.notices
    )


def outcome_html(run: RunState) -> str:
    return f'<b class="{css_class(run.phase)}">{html.escape(run.outcome())}</b>'


def _current_cell_key() -> str | None:
    """The id of the notebook cell being executed, when the front end sends one."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        parent = shell.kernel.get_parent("shell") if shell is not None else None
        cell = (parent or {}).get("metadata", {}).get("cellId")
        return str(cell) if cell else None
    except Exception:
        return None


def close_replaced_views(new: RunView) -> None:
    """Close views that a new run replaces: unfinished ones, and older runs of the same cell."""
    for view in list(_views):
        if view is new:
            continue
        if not view.finished or (new.cell_key is not None and view.cell_key == new.cell_key):
            view.close()


Hook = TypeVar("Hook", bound=Callable[..., None])


def _or_console(hook: Hook) -> Hook:
    """Outside a notebook kernel, hand the record to the console fallback instead."""
    name = hook.__name__

    def dispatch(self: NotebookLogger, record: Any) -> None:
        console = self._console
        if console is not None:
            getattr(console, name, lambda record: None)(record)
        else:
            hook(self, record)

    dispatch.__name__ = name
    dispatch.__doc__ = hook.__doc__
    return dispatch  # type: ignore[return-value]


class NotebookLogger(FrontEnd):
    """Live widgets for each run, replaced by the run's static record when it ends.

    Args:
        compact: one line per run (for runs in loops and sweeps) instead of a row per step.
        refresh_interval: seconds between two pushes of progress to the browser at most.
        plot_interval: seconds between the starts of two metric redraws, so the plots are
            never further behind the bar; only a redraw slower than a quarter of it stretches
            it (to four redraws), so drawing takes at most a quarter of the run.
        log_lines: events kept in the log panel.
        summary: when the run ends, replace the live view by the static record (default).
            ``False`` leaves the live view as it is and shows no record.
    """

    def __init__(
        self,
        *,
        compact: bool = False,
        refresh_interval: float = 0.1,
        plot_interval: float = 0.5,
        log_lines: int = 50,
        summary: bool = True,
    ) -> None:
        super().__init__()
        self.compact = compact
        self.refresh_interval = refresh_interval
        self.plot_interval = plot_interval
        self.log_lines = log_lines
        self.summary = summary
        self.view: RunView | None = None
        self._next_refresh = 0.0
        self._next_plot = 0.0
        self._console: Any = None

    def attach(self, runtime: RuntimeContext) -> None:
        super().attach(runtime)
        if not kernel.in_notebook_kernel():
            # Widgets need a notebook front end; in a terminal they would print raw reprs.
            from synapse_steps.display.console import ConsoleLogger

            warnings.warn(
                "NotebookLogger needs a Jupyter kernel to draw widgets; printing console lines "
                "instead. In a terminal use RuntimeContext(display='console') or ConsoleLogger().",
                RuntimeWarning,
                stacklevel=3,
            )
            self._console = ConsoleLogger()
            self._console.attach(runtime)

    # -- what steps report -----------------------------------------------------------------

    @_or_console
    def on_log(self, record: Logged) -> None:
        view = self.view
        if view is not None:
            # safe_repr: a logged value may have no text (nested too deeply, a broken repr).
            line = f"{record.event}: {safe_repr(record.data)}"
            view.add_log(line if len(line) <= 300 else line[:297] + "...")
            if self.clock.now() >= self._next_refresh:
                self._refresh()

    @_or_console
    def on_progress(self, record: ProgressReported) -> None:
        if self.clock.now() >= self._next_refresh:
            self._refresh()

    @_or_console
    def on_metrics(self, record: MetricsReported) -> None:
        if self.compact:
            if self.clock.now() >= self._next_refresh:
                self._refresh()
        elif self.clock.now() >= self._next_plot:
            self._redraw()

    def _refresh(self) -> None:
        self._next_refresh = self.clock.now() + self.refresh_interval
        if self.view is not None:
            self.view.refresh()

    def _redraw(self) -> None:
        clock = self.clock
        started = clock.now()
        self._next_plot = started + self.plot_interval  # set first: other threads skip
        view = self.view
        if view is None:
            return
        first = not view.has_plots
        if not view.refresh(plots=True):
            # Another thread was drawing the view: try again with the next metrics, rather
            # than leave the plot a whole interval further behind.
            self._next_plot = started
            return
        took = clock.now() - started
        # The plot is never more than one interval behind the bar, counted from the start of
        # one redraw to the next. Only a redraw slower than a quarter of the interval stretches
        # it (to four redraws), so drawing never takes more than a quarter of the run. Pausing
        # for ten redraws after each, as before, left the plot seconds (550 epochs) behind a
        # fast loop with two figures. The first draw pays once for importing matplotlib and
        # building the figure.
        interval = self.plot_interval if first else max(self.plot_interval, 4 * took)
        self._next_plot = started + interval

    # -- lifecycle ---------------------------------------------------------------------------

    @_or_console
    def on_run_start(self, record: RunStarted) -> None:
        view = RunView(self.run, self.log_lines, self.clock, compact=self.compact)
        close_replaced_views(view)
        self.view = view
        self._next_plot = 0.0
        view.refresh(block=True)
        view.handle = show_live(view.widget)
        view.tick_every(TICK_SECONDS)

    @_or_console
    def on_run_notice(self, record: RunNotice) -> None:
        self._lifecycle(f"⚠ {record.text}")

    @_or_console
    def on_step_start(self, record: StepStarted) -> None:
        self._lifecycle(f"▶ {record.name} started")

    @_or_console
    def on_step_skip(self, record: StepSkipped) -> None:
        self._lifecycle(f"↷ {record.name} skipped")

    @_or_console
    def on_step_reuse(self, record: StepReused) -> None:
        self._lifecycle(f"⤴ {record.name} reused from the kept run")

    @_or_console
    def on_step_end(self, record: StepFinished) -> None:
        self._lifecycle(f"✔ {record.name} done in {format_seconds(record.duration)}")

    @_or_console
    def on_step_fail(self, record: StepFailed) -> None:
        what = "interrupted" if record.interrupted else "failed"
        self._lifecycle(f"✖ {record.name} {what}: {record.error}")

    @_or_console
    def on_rollback_start(self, record: StepRollbackStarted) -> None:
        self._lifecycle(f"↺ rolling back {record.name}")

    @_or_console
    def on_step_rollback(self, record: StepRolledBack) -> None:
        if record.error is None:
            self._lifecycle(f"↺ {record.name} rolled back")
        else:
            self._lifecycle(f"⚠ rollback of {record.name} FAILED: {record.error}")

    @_or_console
    def on_run_end(self, record: RunFinished) -> None:
        view = self.view
        if view is None:
            return
        view.add_log(f"run {self.run.outcome()}")
        view.finish()
        if not self.summary:
            return
        # The record first, then the view goes: the page never jumps to an empty cell. Its
        # output goes too, so a saved notebook or page shows the run once (see remove_live).
        display_record(self.run, compact=self.compact, log=list(view.log_lines))
        view.close()  # kept as self.view (closed) until the next run, for inspection
        remove_live(view.handle)

    def _lifecycle(self, line: str) -> None:
        # Status changes are rare and are what the user watches: draw them at once.
        view = self.view
        if view is not None:
            view.add_log(line)
            view.refresh(block=True)
