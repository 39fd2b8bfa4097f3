"""Putting a finished run's static record into the cell (see ``record``).

These are plain display outputs (HTML with a text twin, PNG with a text twin), so a notebook
opened later, rendered on GitHub, or compared by nbval shows the outcome without widget state.
"""

from __future__ import annotations

from typing import Any

from synapse_steps.display.record import figure_bundle, record_bundle
from synapse_steps.run_state import RunState

#: What a live view's output becomes once its run ended: a widget output naming no widget,
#: which JupyterLab, Notebook 7 and VS Code hide ("the view was removed"), with an empty text.
GONE_VIEW: dict[str, Any] = {
    "text/plain": "",
    "application/vnd.jupyter.widget-view+json": {
        "version_major": 2,
        "version_minor": 0,
        "model_id": "",
    },
}


def show(obj: Any, *, raw: bool = False) -> None:
    """``IPython.display.display`` with a type signature (IPython ships none)."""
    from IPython.display import display

    display(obj, raw=raw)  # type: ignore[no-untyped-call]


def show_live(widget: Any) -> Any:
    """Display a live view so that ``remove_live`` can take it out of the cell later (a
    display handle; None where there is none)."""
    from IPython.display import display

    return display(widget, display_id=True)  # type: ignore[no-untyped-call]


def remove_live(handle: Any) -> None:
    """Replace a live view's output by ``GONE_VIEW``, once its static record is shown.

    Why not leave the closed widget: a notebook executed by nbclient keeps the output (and its
    widget state, when asked), so the HTML pages of ``make demo`` drew each run twice, the final
    live view above its record. nbclient applies this update to the saved notebook; nbval does
    not apply updates, and compares the view's empty text either way, so both agree.
    """
    if handle is not None:
        handle.update(GONE_VIEW, raw=True)


def display_record(run: RunState, *, compact: bool = False, log: list[str] | None = None) -> None:
    """The run's record, and (full form) one figure of its metrics right after it.

    The figure is drawn first: the record says whether its style must invert the figure in dark
    themes, and the two outputs then follow each other with nothing drawn in between (the
    style finds the figure as the record's next output).
    """
    figure = None if compact else figure_bundle(run)
    inverted = figure is not None and figure.inverted_in_dark
    show(record_bundle(run, compact=compact, log=log, inverted_figure=inverted), raw=True)
    if figure is not None:
        show(figure.bundle, raw=True)
