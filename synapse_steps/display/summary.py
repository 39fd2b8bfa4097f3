"""Putting a finished run's static record into the cell (see ``record``).

These are plain display outputs (HTML with a text twin, PNG with a text twin), so a notebook
opened later, rendered on GitHub, or compared by nbval shows the outcome without widget state.
"""

from __future__ import annotations

from typing import Any

from synapse_steps.display.record import figure_bundle, record_bundle
from synapse_steps.run_state import RunState


def show(obj: Any, *, raw: bool = False) -> None:
    """``IPython.display.display`` with a type signature (IPython ships none)."""
    from IPython.display import display

    display(obj, raw=raw)  # type: ignore[no-untyped-call]


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
