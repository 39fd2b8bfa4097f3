"""A metric across runs: ``runs().plot_metrics()``, one panel per metric, one line per run.

Built like the live plots and ``recorder.plot_metrics()`` (``plots``): fixed margins, the x axis
named after the key the runs reported (``epoch``, ``step`` ...), the y axis after the metric, and
the default ``auto`` palette, which the notebook page turns over in dark themes.

A metric is named as ``runs()`` lists it: ``loss`` when its run reported one category,
``category/loss`` when several. ``metric="loss"`` finds either form in every run, so runs that
reported it under different categories still share the panel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from synapse_steps.display.plots import (
    LEGEND_COLUMNS,
    LEGEND_ROW,
    TICK_SIZE,
    TITLE_SIZE,
    ShowableFigure,
    _new_figure,
    _style_axes,
    _text,
    default_palette,
    series_arrays,
)
from synapse_steps.errors import NotFoundError
from synapse_steps.metrics import MetricSeries, MetricStore

if TYPE_CHECKING:
    from synapse_steps.journal._history import RunSummary

#: Line styles after the palette's colours are used up (the seventh run is dashed, ...).
STYLES = ("-", "--", ":")

Line = tuple[int, str, MetricSeries, str]  # the run's place, legend label, series, x label


def _named(store: MetricStore) -> list[tuple[str, str, str, MetricSeries]]:
    """``(listed name, category, metric, series)`` for each metric of one run."""
    several = len(store.series) > 1
    return [
        (f"{category}/{name}" if several else name, category, name, series)
        for category, name, series in store
    ]


def _panels(
    series: Sequence[tuple[RunSummary, MetricStore]], metric: str | None
) -> dict[str, list[Line]]:
    panels: dict[str, list[Line]] = {}
    for place, (run, store) in enumerate(series):
        label = f"{run.run_id[:8]} {run.started_at:%H:%M}"
        for listed, category, name, values in _named(store):
            if metric is None:
                panel = listed
            elif metric in (listed, name, f"{category}/{name}"):
                panel = metric
            else:
                continue
            if len(values):
                x_label = store.x_labels.get(category, "call")
                panels.setdefault(panel, []).append((place, label, values, x_label))
    return panels


def runs_figure(
    series: Sequence[tuple[RunSummary, MetricStore]], metric: str | None
) -> ShowableFigure:
    panels = _panels(series, metric)
    if not panels:
        reported = sorted({listed for _, store in series for listed, *_ in _named(store)})
        what = f"metric {metric!r}" if metric is not None else "any metric"
        raise NotFoundError(
            f"none of the {len(series)} run(s) reported {what}"
            + (f"; they reported: {', '.join(reported)}" if reported else "")
            + ". Pick runs with run_ids=[...] and a metric with metric='...'."
        )
    palette = default_palette()
    rows = max(math.ceil(len(lines) / LEGEND_COLUMNS) for lines in panels.values())
    figure, axes = _new_figure(len(panels), palette, rows)
    colours = palette.lines
    for ax, (name, lines) in zip(axes, panels.items(), strict=True):
        x_labels = {x_label for *_, x_label in lines}
        _style_axes(ax, x_labels.pop() if len(x_labels) == 1 else "x", palette, name)
        for place, label, values, _ in lines:
            # A run keeps its colour (and style) in every panel.
            x, y = series_arrays(values)
            ax.plot(
                x,
                y,
                linewidth=1.6,
                color=colours[place % len(colours)],
                linestyle=STYLES[(place // len(colours)) % len(STYLES)],
                label=label,
                marker="o" if len(x) == 1 else "None",
                markersize=4,
            )
        legend = ax.legend(
            loc="lower center",
            bbox_to_anchor=(0.5, 1.0),
            ncols=min(len(lines), LEGEND_COLUMNS),
            fontsize=TICK_SIZE,
            frameon=False,
            handlelength=1.6,
            columnspacing=1.2,
            borderaxespad=0.1,
            borderpad=0.2,
        )
        for text in legend.get_texts():
            _text(text, palette)
        pad = 6 + LEGEND_ROW * rows
        _text(ax.set_title(name, fontsize=TITLE_SIZE, pad=pad), palette)
    assert isinstance(figure, ShowableFigure)
    return figure
