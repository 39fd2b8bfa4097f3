"""Metric plots rendered with matplotlib's Agg canvas: PNG bytes for widgets and static figures.

What a figure shows (the same in the live view and in ``recorder.plot_metrics()``; the panels
are decided once, by ``synapse_steps.display.panels``):

- one panel per metric, with a metric's validation/test counterparts overlaid in it
  (``loss`` + ``val_loss`` -> panel "loss", lines "train" and "validation"; see ``panels``);
- a metric with a single value so far is a value card (its name and the number in large type),
  not an empty frame; it becomes a plot from its second point on;
- the x axis is named after the key the step reported (``epoch``, ``step``, ``iteration``, or
  ``call`` for the call count), with whole-number ticks; the latest value of each line is in
  the title (one line) or the legend (several);
- panels 400 x 260 px at 100 DPI, two columns at most; ``scale=2`` renders twice the pixels for
  HiDPI screens (show the image at ``display_size``).

Options, per figure or as defaults for every figure (the live view's included)::

    from synapse_steps.display import plots
    plots.configure(groups={"loss": ["loss", "val_loss", "test_loss"]}, theme="auto")
    plots.metrics_figure(store, groups=..., theme="dark")
    plots.CategoryPlot(store, "train", groups=..., theme="light")

``groups`` maps a panel name to the metrics it shows (any not listed are grouped automatically).
``theme``: ``"auto"`` (default) has a transparent background and dark text for light pages;
the view's and the record's style invert it in JupyterLab's and VS Code's dark themes, so it
reads on both; ``"light"`` and ``"dark"`` paint their own background and are never inverted
(see ``synapse_steps.display.palette``).

No pyplot: figures are built on ``matplotlib.figure.Figure`` directly, so nothing here touches
the notebook's inline backend or global pyplot state, and a redraw reuses its figure and lines
(updating data is ~10x cheaper than building a figure). Layout is computed here, once per
figure, from fixed margins: a layout engine on every redraw would cost more than the drawing.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure

from synapse_steps.display.palette import PALETTES, THEMES, Palette, Theme
from synapse_steps.display.panels import Groups, Panel, category_panels, store_panels
from synapse_steps.errors import DisplayOptionError
from synapse_steps.metrics import MetricSeries, MetricStore

Arrays = tuple[np.ndarray, np.ndarray]  # x and y of one line

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.legend import Legend
    from matplotlib.lines import Line2D
    from matplotlib.text import Text

#: Points drawn per line at most; longer series are strided (the shape of a curve survives).
MAX_POINTS = 2000
COLUMNS = 2
DPI = 100
PANEL_SIZE = (4.0, 2.6)  # inches per panel: 400 x 260 px at DPI
#: Space around each panel's axes, in inches: tick labels, axis label, title.
MARGINS = {"left": 0.82, "right": 0.2, "top": 0.4, "bottom": 0.5}
TITLE_SIZE = 12.0
LABEL_SIZE = 10.5
TICK_SIZE = 9.5
CARD_VALUE_SIZE = 26.0
CARD_LINE_SIZE = 16.0
LEGEND_COLUMNS = 2
LEGEND_ROW = 15.0  # points: one row of legend entries at TICK_SIZE

_defaults: dict[str, Any] = {"groups": None, "theme": "auto"}


def configure(*, groups: Groups | None = None, theme: Theme = "auto") -> None:
    """Set the ``groups`` and ``theme`` every figure uses unless given its own.

    ``configure()`` with no arguments restores the defaults (automatic grouping, ``auto``).
    """
    _defaults["groups"] = _check_groups(groups)
    _defaults["theme"] = _check_theme(theme)


def _check_theme(theme: str) -> Theme:
    if theme not in THEMES:
        raise DisplayOptionError(
            f"plot theme {theme!r} is not one of {', '.join(map(repr, THEMES))}; "
            "'auto' reads on light and dark notebook themes alike"
        )
    return theme


def _check_groups(groups: Groups | None) -> dict[str, list[str]] | None:
    if groups is None:
        return None
    checked = {}
    for panel, metrics in groups.items():
        # A lone string would be read letter by letter: say so instead of drawing nothing.
        if isinstance(metrics, str) or not all(isinstance(m, str) for m in metrics):
            raise DisplayOptionError(
                f"plot groups: panel {panel!r} got {metrics!r}; give a list of metric names, "
                f"e.g. groups={{{panel!r}: ['loss', 'val_loss']}}"
            )
        checked[panel] = list(metrics)
    return checked


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


def format_value(value: float) -> str:
    return f"{value:.4g}"


class ShowableFigure(Figure):
    """A ``Figure`` that shows itself as a PNG in a notebook cell, sharp on HiDPI screens.

    Figures here are built without pyplot, so IPython's inline backend may not be active to
    render them; ``_repr_png_`` makes ``recorder.plot_metrics()`` display either way. It
    renders twice the pixels and tells the front end the size to show them at.

    An ``auto`` figure (drawn for light pages) also offers HTML: the same PNG in an ``<img>``
    with the style that inverts it in dark themes (``theme.FIGURE_CSS``). Front ends that
    prefer HTML (JupyterLab, VS Code, nbconvert) show that; the rest show the PNG as drawn.
    """

    #: Set by ``_new_figure`` from the palette (see ``palette.Palette.inverted_in_dark``).
    inverted_in_dark = False

    def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
        width, height = display_size(self)
        return figure_png(self, scale=2.0), {"width": width, "height": height}

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        png, size = self._repr_png_()
        encoded = base64.b64encode(png).decode("ascii")
        data: dict[str, Any] = {"image/png": encoded}
        if self.inverted_in_dark:
            from synapse_steps.display.theme import FIGURE_CLASS, FIGURE_CSS

            data["text/html"] = (
                f'{FIGURE_CSS}<img class="{FIGURE_CLASS}" alt="metrics figure" '
                f'width="{size["width"]}" height="{size["height"]}" '
                f'src="data:image/png;base64,{encoded}">'
            )
        return data, {"image/png": size}


def display_size(figure: Figure) -> tuple[int, int]:
    """Width and height to show a figure at, in CSS pixels (whatever ``scale`` rendered it)."""
    width, height = figure.get_size_inches()
    return round(width * DPI), round(height * DPI)


def figure_png(figure: Figure, *, scale: float = 1.0) -> bytes:
    """PNG of ``figure``: ``display_size`` times ``scale`` pixels."""
    buffer = io.BytesIO()
    face = figure.get_facecolor()
    figure.savefig(buffer, format="png", dpi=DPI * scale, facecolor=face, edgecolor=face)
    return buffer.getvalue()


def _legend_rows(panel: Panel) -> int:
    count = len(panel.lines)
    return 0 if count < 2 else math.ceil(count / LEGEND_COLUMNS)


def _new_figure(panels: int, palette: Palette, legend_rows: int = 0) -> tuple[Figure, list[Axes]]:
    """A figure with a grid of ``panels`` axes placed with fixed margins (no layout engine).

    ``legend_rows``: rows of legend entries to leave room for above the axes.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    count = max(panels, 1)
    columns = min(COLUMNS, count)
    rows = math.ceil(count / columns)
    top = MARGINS["top"] + legend_rows * LEGEND_ROW / 72
    panel_width, panel_height = PANEL_SIZE[0], PANEL_SIZE[1] + legend_rows * LEGEND_ROW / 72
    width, height = panel_width * columns, panel_height * rows
    figure = ShowableFigure(figsize=(width, height), dpi=DPI)
    figure.inverted_in_dark = palette.inverted_in_dark
    FigureCanvasAgg(figure)
    if palette.background is None:
        figure.patch.set_alpha(0.0)
    else:
        figure.patch.set_facecolor(palette.background)
    axes = []
    for i in range(panels):
        row, column = divmod(i, columns)
        left = (column * panel_width + MARGINS["left"]) / width
        bottom = ((rows - row - 1) * panel_height + MARGINS["bottom"]) / height
        w = (panel_width - MARGINS["left"] - MARGINS["right"]) / width
        h = (panel_height - MARGINS["bottom"] - top) / height
        axes.append(figure.add_axes((left, bottom, w, h)))
    return figure, axes


def _text(text: Text, palette: Palette) -> Text:
    text.set_color(palette.text)
    return text


def _count_label(value: float, _position: int | None = None) -> str:
    """An x tick: ``1200``, ``20k``, ``1.5M``."""
    for limit, suffix in ((1e6, "M"), (1e4, "k")):
        if abs(value) >= limit:
            return f"{value / (limit if suffix == 'M' else 1e3):g}{suffix}"
    return f"{value:g}"


def _style_axes(ax: Axes, x_label: str, palette: Palette, y_label: str = "") -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    ax.set_facecolor("none")
    # x is an epoch, step, iteration or call count: whole numbers.
    # Few ticks, and 20k for 20000: five-digit step counts side by side would run together.
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(_count_label))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
    _text(ax.set_xlabel(x_label, fontsize=LABEL_SIZE, labelpad=2), palette)
    if y_label:
        _text(ax.set_ylabel(y_label, fontsize=LABEL_SIZE, labelpad=2), palette)
    ax.tick_params(labelsize=TICK_SIZE, colors=palette.muted, labelcolor=palette.text)
    ax.grid(True, color=palette.grid, alpha=0.35, linewidth=0.8)
    for name, spine in ax.spines.items():
        spine.set_color(palette.muted)
        spine.set_visible(name in ("left", "bottom"))
    for axis in (ax.xaxis, ax.yaxis):
        axis.get_offset_text().set_color(palette.text)
        axis.get_offset_text().set_fontsize(TICK_SIZE)


class _PanelView:
    """The artists of one panel: a plot (lines, legend) or a value card (texts)."""

    def __init__(self, ax: Axes, panel: Panel, card: bool, palette: Palette) -> None:
        self.ax = ax
        self.panel = panel
        self.card = card
        self.lines: dict[str, Line2D] = {}
        self.legend: Legend | None = None
        self.texts: list[Text] = []
        self.title: Text
        self.note: Text | None = None
        if card:
            self._build_card(palette)
        else:
            self._build_plot(palette)

    def _build_plot(self, palette: Palette) -> None:
        ax = self.ax
        # The y axis is named after the panel (the metric, e.g. "loss"): the title also
        # carries the latest value, and a reader of a saved figure needs both.
        _style_axes(ax, self.panel.x_label, palette, self.panel.name)
        pad = 6 + LEGEND_ROW * _legend_rows(self.panel)
        self.title = _text(ax.set_title(self.panel.title, fontsize=TITLE_SIZE, pad=pad), palette)
        for i, line in enumerate(self.panel.lines):
            colour = palette.lines[i % len(palette.lines)]
            (self.lines[line.metric],) = ax.plot(
                [], [], linewidth=1.8, color=colour, label=line.label, markersize=5
            )
        if len(self.panel.lines) > 1:
            # Above the axes, under the title: never over the data, and no search for a free
            # corner ("best") on every redraw.
            legend = ax.legend(
                loc="lower center",
                bbox_to_anchor=(0.5, 1.0),
                ncols=min(len(self.panel.lines), LEGEND_COLUMNS),
                fontsize=TICK_SIZE,
                frameon=False,
                handlelength=1.4,
                columnspacing=1.2,
                borderaxespad=0.1,
                borderpad=0.2,
            )
            for text in legend.get_texts():
                _text(text, palette)
            self.legend = legend

    def _build_card(self, palette: Palette) -> None:
        ax = self.ax
        ax.set_axis_off()
        count = len(self.panel.lines)
        # The same title as a plot's, where a plot's is: a card and its plot look alike.
        self.title = _text(ax.set_title(self.panel.title, fontsize=TITLE_SIZE, pad=6), palette)
        size = CARD_VALUE_SIZE if count == 1 else CARD_LINE_SIZE
        step = 0.7 / count
        for i in range(count):
            y = 0.55 if count == 1 else 0.85 - (i + 0.5) * step
            text = ax.text(0.5, y, "", ha="center", va="center", fontsize=size)
            self.texts.append(_text(text, palette))
        # Where the value was taken: "epoch 0".
        self.note = _text(
            ax.text(0.5, 0.05, "", ha="center", va="bottom", fontsize=LABEL_SIZE), palette
        )

    def update(self, values: Sequence[Arrays]) -> None:
        """Show ``values``: the arrays of each of the panel's lines, in order."""
        panel = self.panel
        if self.card:
            self._update_card(values)
            return
        for line, (x, y) in zip(panel.lines, values, strict=True):
            artist = self.lines[line.metric]
            artist.set_data(x, y)
            # A line with one point has no segment to draw: show the point.
            artist.set_marker("o" if len(x) == 1 else "None")
        ax = self.ax
        ax.relim()
        ax.autoscale_view()
        xs = [x for x, _ in values if len(x)]
        low, high = min(x[0] for x in xs), max(x[-1] for x in xs)
        if low == high:
            # Points at one x: a readable axis instead of ±0.04; auto=True keeps autoscaling on
            # so the next redraw, with more points, fits the data again.
            ax.set_xlim(low - 1, high + 1, auto=True)
        if self.legend is None:
            y = values[0][1]
            self.title.set_text(f"{panel.title} = {format_value(y[-1])}")
        else:
            texts = self.legend.get_texts()
            for text, line, (_, y) in zip(texts, panel.lines, values, strict=True):
                text.set_text(f"{line.label} = {format_value(y[-1])}" if len(y) else line.label)

    def _update_card(self, values: Sequence[Arrays]) -> None:
        panel = self.panel
        for text, line, (_, y) in zip(self.texts, panel.lines, values, strict=True):
            value = format_value(y[-1]) if len(y) else "–"
            text.set_text(value if len(panel.lines) == 1 else f"{line.label} = {value}")
        xs = [x[-1] for x, _ in values if len(x)]
        # A call count says nothing a reader needs; an epoch or step does.
        at = f"{panel.x_label} {format_value(max(xs))}" if xs and panel.x_label != "call" else ""
        assert self.note is not None
        self.note.set_text(at)


def _card(values: Sequence[Arrays]) -> bool:
    """A panel is a value card until one of its lines has two points."""
    return all(len(x) < 2 for x, _ in values)


class _Canvas:
    """A figure of panels that redraws by updating its artists, rebuilt when panels change."""

    def __init__(self, palette: Palette) -> None:
        self.palette = palette
        self.figure: Figure | None = None
        self.views: list[_PanelView] = []
        self._key: tuple[Any, ...] = ()

    def draw(self, panels: list[Panel], values: list[list[Arrays]]) -> Figure:
        """Draw ``panels``; ``values[i][j]`` is the data of line ``j`` of panel ``i``."""
        cards = tuple(_card(arrays) for arrays in values)
        key = (tuple(panels), cards)
        if key != self._key or self.figure is None:
            rows = max(
                (
                    _legend_rows(panel)
                    for panel, card in zip(panels, cards, strict=True)
                    if not card
                ),
                default=0,
            )
            self.figure, axes = _new_figure(len(panels), self.palette, rows)
            self.views = [
                _PanelView(ax, panel, card, self.palette)
                for ax, panel, card in zip(axes, panels, cards, strict=True)
            ]
            self._key = key
        for view, arrays in zip(self.views, values, strict=True):
            view.update(arrays)
        return self.figure


class CategoryPlot:
    """The live figure of one metric category, redrawn into PNG bytes by ``render``."""

    def __init__(
        self,
        store: MetricStore,
        category: str,
        *,
        groups: Groups | None = None,
        theme: Theme | None = None,
        scale: float = 1.0,
    ) -> None:
        self.store = store
        self.category = category
        self.groups = _check_groups(groups)
        self.theme = _check_theme(theme) if theme is not None else None
        self.scale = scale
        #: The palette of the last render (the live view styles the image after it).
        self.palette: Palette = PALETTES[self.theme or _defaults["theme"]]
        self._canvas: _Canvas | None = None
        #: The axes and line of each metric, by the name the step reported.
        self._axes: dict[str, Axes] = {}
        self._lines: dict[str, Line2D] = {}

    @property
    def panels(self) -> list[Panel]:
        groups = self.groups if self.groups is not None else _defaults["groups"]
        return category_panels(self.store, self.category, groups=groups)

    def render(self) -> bytes:
        palette = self.palette = PALETTES[self.theme or _defaults["theme"]]
        if self._canvas is None or self._canvas.palette is not palette:
            self._canvas = _Canvas(palette)
        group = self.store.series.get(self.category, {})
        panels = self.panels
        values = [[series_arrays(group[line.metric]) for line in p.lines] for p in panels]
        figure = self._canvas.draw(panels, values)
        self._axes = {m: v.ax for v in self._canvas.views for m in _metrics(v.panel)}
        self._lines = {m: line for v in self._canvas.views for m, line in v.lines.items()}
        return figure_png(figure, scale=self.scale)

    @property
    def display_size(self) -> tuple[int, int]:
        """CSS pixels to show the last render at (it has ``scale`` times as many)."""
        figure = self._canvas.figure if self._canvas else None
        return display_size(figure) if figure is not None else (0, 0)


def _metrics(panel: Panel) -> list[str]:
    return [line.metric for line in panel.lines]


def default_palette() -> Palette:
    """The palette of a figure given no ``theme`` (``configure`` sets it)."""
    return PALETTES[_defaults["theme"]]


def metrics_figure(
    store: MetricStore, *, groups: Groups | None = None, theme: Theme | None = None
) -> ShowableFigure:
    """A static figure of every metric, panels as in the live view (category-prefixed titles
    when there are several categories)."""
    palette = PALETTES[_check_theme(theme)] if theme is not None else default_palette()
    chosen = _check_groups(groups) if groups is not None else _defaults["groups"]
    panels = store_panels(store, groups=chosen)
    if not panels:
        figure, _ = _new_figure(0, palette)
        figure.text(0.5, 0.5, "no metrics reported", ha="center", va="center", color=palette.text)
        assert isinstance(figure, ShowableFigure)
        return figure
    values = [
        [series_arrays(store.series[p.category][line.metric]) for line in p.lines] for p in panels
    ]
    figure = _Canvas(palette).draw(panels, values)
    assert isinstance(figure, ShowableFigure)
    return figure
