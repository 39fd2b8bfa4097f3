"""The static end of every notebook run: a summary table and, when metrics exist, a figure.

These are plain display outputs (HTML with a text twin, PNG with a text twin), so a notebook
opened later, rendered on GitHub, or compared by nbval shows the outcome without widget state.
"""

from __future__ import annotations

from typing import Any

from synapse_steps.display.tables import summary_html, summary_text
from synapse_steps.run_state import RunState


def show(obj: Any, *, raw: bool = False) -> None:
    """``IPython.display.display`` with a type signature (IPython ships none)."""
    from IPython.display import display

    display(obj, raw=raw)  # type: ignore[no-untyped-call]


def display_summary(run: RunState, *, with_plot: bool = True) -> None:
    show({"text/html": summary_html(run), "text/plain": summary_text(run)}, raw=True)
    if with_plot and len(run.metrics):
        display_metrics_figure(run)


def display_metrics_figure(run: RunState) -> None:
    from synapse_steps.display.plots import figure_png, metrics_figure

    names = ", ".join(f"{category}/{name}" for category, name, _ in run.metrics)
    png = figure_png(metrics_figure(run.metrics))
    show({"image/png": png, "text/plain": f"<metrics figure: {names}>"}, raw=True)
