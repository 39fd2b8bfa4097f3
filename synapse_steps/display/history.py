"""The run history (``synapse_steps.journal.runs()``) and ``unfinished_runs()`` as tables,
text, a DataFrame, and a figure of a metric across runs.

Tables are styled like the run records (``theme``: status colours for light and dark notebook
themes); the text twin is what a terminal, GitHub and nbval read. The figure is built like
``recorder.plot_metrics()``'s: an ``auto`` figure is drawn for light pages and turned over by the
page's style in dark themes (``palette``). pandas and matplotlib are imported only by
``history_frame`` and ``history_figure``.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from synapse_steps.display.base import format_seconds
from synapse_steps.display.tables import text_table
from synapse_steps.display.theme import CSS, css_class

if TYPE_CHECKING:
    import pandas as pd

    from synapse_steps.display.plots import ShowableFigure
    from synapse_steps.journal._history import RunHistory, RunSummary, UnfinishedRuns
    from synapse_steps.journal._listing import RunInfo
    from synapse_steps.metrics import MetricStore

#: Text longer than this is cut in the table (the DataFrame keeps all of it).
CELL_LIMIT = 100
#: Metrics shown per run in the table.
METRICS_SHOWN = 6
#: Columns whose cells never wrap.
NO_WRAP = frozenset({"run", "started", "took", "steps"})


def _cut(text: str, limit: int = CELL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _started(run: RunSummary) -> str:
    return run.started_at.strftime("%Y-%m-%d %H:%M:%S")


def _took(run: RunSummary) -> str:
    return format_seconds(run.duration) if run.duration is not None else "—"


def _metrics(run: RunSummary) -> str:
    values = [f"{name}={value:.4g}" for name, value in run.metrics.items()]
    more = len(values) - METRICS_SHOWN
    return " ".join(values[:METRICS_SHOWN]) + (f" (+{more} more)" if more > 0 else "")


def _columns(history: RunHistory) -> list[str]:
    columns = ["run", "workflow", "started", "took", "steps", "outcome", "stopped at", "reason"]
    columns.append("last metrics")
    if history.workflow is not None:
        columns.remove("workflow")  # one workflow: it is in the caption
    return columns


def _cells(run: RunSummary) -> dict[str, str]:
    return {
        "run": run.run_id,
        "workflow": run.workflow,
        "started": _started(run),
        "took": _took(run),
        "steps": f"{run.steps_completed}/{run.steps_total}",
        "outcome": run.outcome,
        "stopped at": run.stopped_at or "",
        "reason": _cut(run.reason or ""),
        "last metrics": _metrics(run),
    }


def _caption(history: RunHistory) -> str:
    what = f"workflow '{history.workflow}'" if history.workflow is not None else "all workflows"
    count = len(history)
    runs = f"{count} run{'' if count == 1 else 's'}"
    if not count:
        return f"No runs of {what} in the journal {history.journal}"
    return f"{runs} of {what}, newest first (journal {history.journal})"


def history_text(history: RunHistory) -> str:
    caption = _caption(history)
    if not history:
        return caption
    columns = _columns(history)
    rows = [[_cells(run)[c] for c in columns] for run in history]
    return caption + "\n" + text_table(columns, rows)


def history_html(history: RunHistory) -> str:
    columns = _columns(history)
    head = "".join(f'<th style="text-align:left">{html.escape(c)}</th>' for c in columns)
    body = []
    for run in history:
        cells = _cells(run)
        tds = []
        for column in columns:
            text = html.escape(cells[column])
            style = "text-align:left"
            if column in NO_WRAP:
                style += ";white-space:nowrap"  # a date or an id cut in two reads badly
            if column == "run":
                text = f'<code style="font-size:85%">{text}</code>'
            elif column == "outcome":
                text = f'<span class="{css_class(run.status)}">{text}</span>'
            tds.append(f'<td style="{style}">{text}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    caption = html.escape(_caption(history))
    return (
        f'{CSS}<table class="synapse-steps synapse-steps-history">'
        f'<caption style="text-align:left">{caption}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def history_frame(history: RunHistory) -> pd.DataFrame:
    """One row per run; text columns hold ``""`` (never NaN) where there is nothing to say."""
    import pandas as pd

    rows = []
    for run in history:
        row: dict[str, Any] = {
            "run_id": run.run_id,
            "workflow": run.workflow,
            "started": pd.Timestamp(run.started_at),
            "duration_s": run.duration,
            "status": run.status,
            "outcome": run.outcome,
            "steps_completed": run.steps_completed,
            "steps_total": run.steps_total,
            "stopped_at": run.stopped_at or "",
            "reason": run.reason or "",
        }
        row.update(run.metrics)
        rows.append(row)
    columns = [
        "run_id",
        "workflow",
        "started",
        "duration_s",
        "status",
        "outcome",
        "steps_completed",
        "steps_total",
        "stopped_at",
        "reason",
    ]
    frame = pd.DataFrame(rows, columns=columns + _metric_names(history))
    frame["duration_s"] = frame["duration_s"].astype("float64")
    return frame


def _metric_names(history: Sequence[RunSummary]) -> list[str]:
    names: list[str] = []
    for run in history:
        names.extend(name for name in run.metrics if name not in names)
    return names


# -- unfinished runs -----------------------------------------------------------------------------


def commands(info: RunInfo, path_given: str | None) -> tuple[str, str] | None:
    """The ``recover(...)`` and ``abandon(...)`` calls for a dead run (None while it runs)."""
    if info.owner_alive:
        return None
    where = "" if path_given is None else f", path={path_given!r}"
    return (
        f"recover('{info.run_id}', registry, context{where})",
        f"abandon('{info.run_id}'{where})",
    )


def _unfinished_rows(
    runs: UnfinishedRuns,
) -> list[tuple[RunInfo, list[str], tuple[str, str] | None]]:
    rows = []
    for info in runs:
        done = [step.name for step in info.completed_steps]
        # A dead process's pid and host tell nothing more; a live one's say where it runs.
        owner = f"running (pid {info.pid} on {info.host})" if info.owner_alive else "died"
        cells = [
            info.run_id,
            info.workflow,
            info.started_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{len(done)}/{len(info.steps)}",
            ", ".join(info.to_roll_back) or "nothing",
            owner,
        ]
        rows.append((info, cells, commands(info, runs.path_given)))
    return rows


UNFINISHED_COLUMNS = ("run", "workflow", "started", "steps done", "to roll back", "process")


def _unfinished_caption(runs: UnfinishedRuns) -> str:
    count = len(runs)
    if not count:
        return "No unfinished runs: every run ended, or was recovered or abandoned."
    return f"{count} unfinished run{'' if count == 1 else 's'}, oldest first"


def unfinished_text(runs: UnfinishedRuns) -> str:
    caption = _unfinished_caption(runs)
    if not runs:
        return caption
    lines = [caption]
    rows = _unfinished_rows(runs)
    table = text_table(UNFINISHED_COLUMNS, [cells for _, cells, _ in rows]).splitlines()
    lines += table[:2]
    for (_info, _cells, calls), line in zip(rows, table[2:], strict=True):
        lines.append(line)
        if calls is None:
            lines.append("  still running: wait for it to end (or stop that kernel)")
        else:
            lines.append(f"  undo its steps: {calls[0]}")
            lines.append(f"  or keep them:   {calls[1]}")
    return "\n".join(lines)


def unfinished_html(runs: UnfinishedRuns) -> str:
    caption = html.escape(_unfinished_caption(runs))
    columns = (*UNFINISHED_COLUMNS, "what to do")
    head = "".join(f'<th style="text-align:left">{html.escape(c)}</th>' for c in columns)
    body = []
    for info, cells, calls in _unfinished_rows(runs):
        tds = [f'<td style="text-align:left"><code>{html.escape(cells[0])}</code></td>']
        tds += [f'<td style="text-align:left">{html.escape(c)}</td>' for c in cells[1:]]
        status = "running" if info.owner_alive else "unfinished"
        tds[-1] = (
            f'<td style="text-align:left"><span class="{css_class(status)}">'
            f"{html.escape(cells[-1])}</span></td>"
        )
        if calls is None:
            todo = "wait for it to end (or stop that kernel)"
        else:
            todo = (
                f"undo its steps: <code>{html.escape(calls[0], quote=False)}</code><br>"
                f"or keep them: <code>{html.escape(calls[1], quote=False)}</code>"
            )
        tds.append(f'<td style="text-align:left">{todo}</td>')
        body.append("<tr>" + "".join(tds) + "</tr>")
    return (
        f'{CSS}<table class="synapse-steps synapse-steps-unfinished">'
        f'<caption style="text-align:left">{caption}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


# -- a metric across runs ------------------------------------------------------------------------


def history_figure(
    series: Sequence[tuple[RunSummary, MetricStore]], metric: str | None
) -> ShowableFigure:
    """Each metric (or only ``metric``) of the given runs, one panel per metric, one line per
    run (see ``history_figure`` module for how panels and lines are chosen)."""
    from synapse_steps.display.history_figure import runs_figure

    return runs_figure(series, metric)
