"""The static record of a finished run: what stays in the notebook once the live view is gone.

One record per run, readable without a kernel or widget state (a saved notebook, GitHub, nbval):
an HTML part with a text twin, and, when the run reported metrics, one figure. The outcome is
stated once (the outcome line); the failing step's row carries its error; the traceback is the
cell's own error output.

``full`` lists every step; ``compact`` is one line per run, for runs in loops and sweeps.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from synapse_steps.display.base import format_seconds
from synapse_steps.display.tables import (
    SUMMARY_COLUMNS,
    cell,
    html_table,
    summary_rows,
    text_table,
)
from synapse_steps.display.theme import CSS, FIGURE_NEXT_CLASS, css_class
from synapse_steps.output_mode import deterministic
from synapse_steps.run_state import RunState

OUTCOME_ICONS = {"succeeded": "✔", "failed": "✖", "interrupted": "■"}


def outcome_line(run: RunState) -> str:
    """``✔ succeeded - 3 of 3 steps executed · 1.20s`` (the duration as the display mode says)."""
    icon = OUTCOME_ICONS.get(run.phase, "•")
    took = run.finish.duration if run.finish is not None else None
    return f"{icon} {run.outcome()} · {format_seconds(took)}"


def notice_lines(run: RunState) -> str:
    """The run's notices (how the previous run ended, when no view showed it), one a line."""
    return "".join(f"⚠ {text}\n" for text in run.notices)


def record_text(run: RunState, *, compact: bool = False) -> str:
    line = outcome_line(run)
    if compact:
        return f"{notice_lines(run)}{run.workflow or 'run'}: {line}{latest_metrics(run)}"
    rows = [tuple(cell(v) for v in row) for row in summary_rows(run)]
    return f"{notice_lines(run)}{line}\n{text_table(SUMMARY_COLUMNS, rows)}"


def record_html(
    run: RunState,
    *,
    compact: bool = False,
    log: list[str] | None = None,
    inverted_figure: bool = False,
) -> str:
    """``inverted_figure``: an ``auto`` figure follows, for the style to invert in dark themes
    (``theme``)."""
    head = f'{CSS}<b class="{css_class(run.phase)}">{html.escape(outcome_line(run))}</b>'
    notices = "".join(
        f'<div class="{css_class("interrupted")}">⚠ {html.escape(text)}</div>'
        for text in run.notices
    )
    if compact:
        name = html.escape(run.workflow or "run")
        metrics = html.escape(latest_metrics(run))
        return f'<div class="synapse-steps-run">{notices}<code>{name}</code> {head}{metrics}</div>'
    rows = [tuple(cell(v) for v in row) for row in summary_rows(run)]
    parts = [
        notices,
        f"<div>{head}</div>",
        html_table(SUMMARY_COLUMNS, rows, run.describe_plan()),
    ]
    # Logged data may hold times (LoggingStep's elapsed): in deterministic mode it stays out.
    if log and not deterministic():
        parts.append(
            f"<details><summary>Log ({len(log)} events)</summary>"
            '<pre style="font-size:11px;max-height:240px;overflow:auto;margin:0">'
            # quote=False: inside <pre> quotes need no escaping, and sanitize rules see them
            f"{html.escape(chr(10).join(log), quote=False)}</pre></details>"
        )
    classes = "synapse-steps-run" + (f" {FIGURE_NEXT_CLASS}" if inverted_figure else "")
    return f'<div class="{classes}">' + "".join(parts) + "</div>"


def record_bundle(
    run: RunState,
    *,
    compact: bool = False,
    log: list[str] | None = None,
    inverted_figure: bool = False,
) -> dict[str, Any]:
    """The MIME bundle of the record (``text/html`` with its ``text/plain`` twin)."""
    return {
        "text/html": record_html(run, compact=compact, log=log, inverted_figure=inverted_figure),
        "text/plain": record_text(run, compact=compact),
    }


@dataclass(frozen=True)
class RecordFigure:
    """The record's figure: its MIME bundle, and whether dark themes show it inverted."""

    bundle: dict[str, Any]
    inverted_in_dark: bool


def figure_bundle(run: RunState) -> RecordFigure | None:
    """The run's metrics as one PNG (with a text twin naming the panels), or None."""
    if not len(run.metrics):
        return None
    from synapse_steps.display.plots import default_palette, figure_png, metrics_figure

    names = ", ".join(f"{category}/{name}" for category, name, _ in run.metrics)
    palette = default_palette()
    png = figure_png(metrics_figure(run.metrics))
    return RecordFigure(
        {"image/png": png, "text/plain": f"<metrics figure: {names}>"}, palette.inverted_in_dark
    )


def latest_metrics(run: RunState, limit: int = 6) -> str:
    """`` · loss=0.25 acc=0.9``: the latest value of the first ``limit`` metrics, or nothing."""
    latest = run.metrics.latest()
    values = [f"{name}={value:.4g}" for group in latest.values() for name, value in group.items()]
    return f" · {' '.join(values[:limit])}" if values else ""
