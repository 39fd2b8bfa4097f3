"""A run's history as pandas DataFrames (pandas is imported only when a frame is asked for)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from synapse_steps._text import safe_str
from synapse_steps.metrics import MetricStore
from synapse_steps.run_state import RunState

if TYPE_CHECKING:
    import pandas as pd

    from synapse_steps.recorder import LoggedEvent


def steps_frame(run: RunState) -> pd.DataFrame:
    """One row per step: its status in words, duration (s), error and how its rollback went."""
    import pandas as pd

    rows = [
        (s.name, s.label, s.duration, s.error, s.rolled_back, s.rollback_error) for s in run.steps
    ]
    columns = ["step", "status", "duration", "error", "rolled_back", "rollback_error"]
    return pd.DataFrame(rows, columns=columns)


def metrics_frame(store: MetricStore) -> pd.DataFrame:
    """Long format: ``category, metric, <x>, value`` (plus ``text`` for non-numeric values).

    The x column is named after the key the steps reported (``epoch``, ``step``, ``iteration``;
    ``call`` counts the calls when none was given); categories with different keys each get
    their own column. Whole-number x values come back as integers.
    """
    import numpy as np
    import pandas as pd

    x_names = sorted(set(store.x_labels.values())) or ["call"]
    parts = []
    for category, name, series in store:
        # Copies of equal length (a worker thread may still be appending; see MetricStore).
        xs, ys = series.snapshot()
        parts.append(_rows(category, name, store.x_labels.get(category, "call"), xs, ys, None))
    for category, group in list(store.others.items()):
        for name, points in list(group.items()):
            xs_other = [x for x, _ in points]
            texts = [_text(value) for _, value in points]
            label = store.x_labels.get(category, "call")
            parts.append(_rows(category, name, label, xs_other, [np.nan] * len(xs_other), texts))
    if not parts:
        text, number = np.array([], dtype=str), np.array([], dtype=np.int64)
        empty: dict[str, Any] = {"category": text, "metric": text}
        empty.update({x_name: number for x_name in x_names})
        empty["value"] = np.array([], dtype=np.float64)
        return pd.DataFrame(empty)
    frame = pd.concat(parts, ignore_index=True)
    columns = ["category", "metric", *x_names, "value"]
    if store.others:
        columns.append("text")
    for x_name in x_names:
        if x_name not in frame:
            frame[x_name] = np.nan
        values = frame[x_name]
        if values.notna().all() and (values % 1 == 0).all():
            frame[x_name] = values.astype(np.int64)
    return frame[columns]


def _rows(
    category: str, name: str, x_name: str, xs: Any, ys: Any, texts: list[str | None] | None
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    n = len(ys)
    columns: dict[str, Any] = {
        "category": np.repeat(category, n),
        "metric": np.repeat(name, n),
        x_name: np.array(xs, dtype=np.float64),
        "value": np.array(ys, dtype=np.float64),
    }
    if texts is not None:
        columns["text"] = texts
    return pd.DataFrame(columns)


def _text(value: Any) -> str | None:
    # safe_str: str() itself raises for some values (an int past 4,300 digits).
    return None if value is None else safe_str(value)


def events_frame(events: Iterable[LoggedEvent]) -> pd.DataFrame:
    import pandas as pd

    # list(): a snapshot, as a worker thread may log while the frame is built.
    rows = [
        (datetime.fromtimestamp(e.time), e.event, e.data, e.file, e.run_id) for e in list(events)
    ]
    return pd.DataFrame(rows, columns=["time", "event", "data", "file", "run_id"])
