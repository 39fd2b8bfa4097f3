"""Tables of registries and runs: plain text, HTML, and the registry as a DataFrame.

Text and HTML need nothing beyond the standard library; pandas is imported only by
``registry_frame``. A run's DataFrames are in ``synapse_steps.display.frames``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from synapse_steps.display.base import with_rollback
from synapse_steps.output_mode import format_duration
from synapse_steps.run_state import RunState
from synapse_steps.steps.base import BaseStep

if TYPE_CHECKING:
    import pandas as pd

REGISTRY_COLUMNS = ("#", "step", "class", "weight", "share %", "can_skip", "rollback")
SUMMARY_COLUMNS = ("#", "step", "status", "duration", "error")


def _overrides(step: BaseStep[Any], method: str) -> bool:
    """Whether the step (or the step a wrapper wraps) defines its own ``method``."""
    innermost = step
    while getattr(innermost, "inner", None) is not None:
        innermost = innermost.inner  # type: ignore[attr-defined]
    return getattr(type(innermost), method) is not getattr(BaseStep, method)


def _class_label(step: BaseStep[Any]) -> str:
    # LoggingStep(TimingStep(ProcessStep)) reads as the stack of wrappers it is.
    label = type(step).__name__
    inner = getattr(step, "inner", None)
    return f"{label}({_class_label(inner)})" if inner is not None else label


def registry_rows(steps: Sequence[BaseStep[Any]]) -> list[tuple[Any, ...]]:
    total = sum(step.progress_weight for step in steps)
    rows = []
    for index, step in enumerate(steps, start=1):
        weight = step.progress_weight
        share = 100 * weight / total if total > 0 else 100 / len(steps)
        rows.append(
            (
                index,
                step.name,
                _class_label(step),
                weight,
                round(share, 1),
                "yes" if _overrides(step, "can_skip") else "-",
                "yes" if _overrides(step, "rollback") else "-",
            )
        )
    return rows


def registry_text(steps: Sequence[BaseStep[Any]]) -> str:
    total = sum(step.progress_weight for step in steps)
    title = (
        f"StepRegistry: {len(steps)} step{'s' if len(steps) != 1 else ''}, total weight {total:g}"
    )
    if not steps:
        return title
    rows = [tuple(cell(v) for v in row) for row in registry_rows(steps)]
    return title + "\n" + text_table(REGISTRY_COLUMNS, rows)


def registry_html(steps: Sequence[BaseStep[Any]]) -> str:
    total = sum(step.progress_weight for step in steps)
    caption = f"StepRegistry: {len(steps)} steps, total weight {total:g}"
    rows = [tuple(cell(v) for v in row) for row in registry_rows(steps)]
    return html_table(REGISTRY_COLUMNS, rows, caption)


def registry_frame(steps: Sequence[BaseStep[Any]]) -> pd.DataFrame:
    import pandas as pd

    columns = ["order", "name", "step_class", "weight", "share_percent", "can_skip", "rollback"]
    rows = [(*row[:5], row[5] == "yes", row[6] == "yes") for row in registry_rows(steps)]
    return pd.DataFrame(rows, columns=columns)


# -- runs ----------------------------------------------------------------------------------


def summary_rows(run: RunState) -> list[tuple[Any, ...]]:
    rows = []
    for state in run.steps:
        error = state.error or ""
        if state.rollback_error:
            error = (error + "; " if error else "") + f"rollback failed: {state.rollback_error}"
        ran = "" if state.duration is None else format_duration(state.duration)
        undo = "" if state.rollback_duration is None else format_duration(state.rollback_duration)
        duration = with_rollback(ran, undo)
        rows.append((state.plan.position + 1, state.name, state.label, duration, error))
    return rows


def summary_text(run: RunState) -> str:
    return f"{run.outcome()}\n" + text_table(
        SUMMARY_COLUMNS, [tuple(cell(v) for v in row) for row in summary_rows(run)]
    )


# -- formatting helpers ------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A table cell's text: floats in their shortest form."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def html_table(columns: Sequence[str], rows: Sequence[Sequence[str]], caption: str) -> str:
    # Left-aligned cells: JupyterLab's table style right-aligns them, which reads badly for names.
    head = "".join(f'<th style="text-align:left">{html.escape(c)}</th>' for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f'<td style="text-align:left">{html.escape(v)}</td>' for v in row)
        + "</tr>"
        for row in rows
    )
    return (
        '<table class="synapse-steps">'
        f'<caption style="text-align:left">{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
