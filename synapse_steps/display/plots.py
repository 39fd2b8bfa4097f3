"""Metric plots rendered with matplotlib's Agg canvas: PNG bytes for widgets and static figures.

No pyplot: figures are built on ``matplotlib.figure.Figure`` directly, so nothing here touches
the notebook's inline backend or global pyplot state, and a redraw reuses its figure and lines
(updating data is ~10x cheaper than building a figure).
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.figure import Figure

from synapse_steps.metrics import MetricSeries, MetricStore

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.lines import Line2D

#: Points drawn per line at most; longer series are strided (the shape of a curve survives).
MAX_POINTS = 2000
COLUMNS = 3
PANEL_SIZE = (3.0, 2.1)  # inches per metric panel
DPI = 72


def series_arrays(series: MetricSeries) -> tuple[np.ndarray, np.ndarray]:
    """Copies of a series, strided down to ``MAX_POINTS``.

    Never a view of the live arrays: while numpy holds their buffer, a ``set_metrics`` call in
    another thread would fail with ``BufferError`` when the array grows.
    """
    xs, ys = series.snapshot()
    n = len(ys)
    if n > MAX_POINTS:
        stride = math.ceil(n / MAX_POINTS)
        # Keep the last point: it is the value the user is watching.
        last_x, last_y = xs[-1], ys[-1]
        xs, ys = xs[::stride], ys[::stride]
        if (n - 1) % stride:
            xs.append(last_x)
            ys.append(last_y)
    return np.array(xs, dtype=np.float64), np.array(ys, dtype=np.float64)


class ShowableFigure(Figure):
    """A ``Figure`` that shows itself as a PNG in a notebook cell.

    Figures here are built without pyplot, so IPython's inline backend may not be active to
    render them; ``_repr_png_`` makes ``recorder.plot_metrics()`` display either way.
    """

    def _repr_png_(self) -> bytes:
        return figure_png(self)


def _new_figure(panels: int) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    columns = min(COLUMNS, max(panels, 1))
    rows = math.ceil(max(panels, 1) / columns)
    figure = ShowableFigure(figsize=(PANEL_SIZE[0] * columns, PANEL_SIZE[1] * rows), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = [figure.add_subplot(rows, columns, i + 1) for i in range(panels)]
    return figure, axes


def _style(ax: Axes, title: str, x_label: str) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=10)
    # x is an epoch, step, iteration or call count: whole numbers.
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(x_label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)


def figure_png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


class CategoryPlot:
    """The live figure of one metric category: one small panel per metric."""

    def __init__(self, store: MetricStore, category: str) -> None:
        self.store = store
        self.category = category
        self._names: tuple[str, ...] = ()
        self._figure: Figure | None = None
        self._lines: dict[str, Line2D] = {}
        self._axes: dict[str, Axes] = {}

    def render(self) -> bytes:
        group = self.store.series.get(self.category, {})
        names = tuple(group)
        if names != self._names:
            self._build(names)
        for name in names:
            x, y = series_arrays(group[name])
            self._lines[name].set_data(x, y)
            ax = self._axes[name]
            ax.relim()
            ax.autoscale_view()
            if len(x) and x[0] == x[-1]:
                # One point: a readable axis instead of ±0.04; auto=True keeps autoscaling on
                # so the next redraw, with more points, fits the data again.
                ax.set_xlim(x[0] - 1, x[0] + 1, auto=True)
            last = y[-1] if len(y) else float("nan")
            # With several categories on screen, each panel says which one it belongs to.
            prefix = f"{self.category} · " if len(self.store.series) > 1 else ""
            ax.set_title(f"{prefix}{name} = {last:.4g}", fontsize=10)
        assert self._figure is not None
        return figure_png(self._figure)

    def _build(self, names: tuple[str, ...]) -> None:
        figure, axes = _new_figure(len(names))
        x_label = self.store.x_labels.get(self.category, "call")
        self._lines = {}
        self._axes = {}
        for ax, name in zip(axes, names, strict=True):
            _style(ax, name, x_label)
            (line,) = ax.plot([], [], linewidth=1.4, color="C0")
            self._lines[name] = line
            self._axes[name] = ax
        figure.tight_layout()
        self._figure = figure
        self._names = names


def metrics_figure(store: MetricStore) -> Figure:
    """A static figure of every metric, one panel each, titled ``category / metric``."""
    panels = [(category, name, series) for category, name, series in store]
    figure, axes = _new_figure(len(panels))
    for ax, (category, name, series) in zip(axes, panels, strict=True):
        x, y = series_arrays(series)
        ax.plot(x, y, linewidth=1.4, color="C0")
        _style(ax, f"{category} / {name}", store.x_labels.get(category, "call"))
    if not panels:
        figure.text(0.5, 0.5, "no metrics reported", ha="center", va="center")
    figure.tight_layout()
    return figure
