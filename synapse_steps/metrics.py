"""Compact history of ``set_metrics`` calls: two float arrays per (category, metric).

A training loop may report metrics 100,000 times; a dict per point would cost ~200 bytes each,
two ``array('d')`` entries cost 16.

Only a finite number is plotted: a value that is a real number (``int``, ``float``, NumPy
scalars, ``Fraction`` ...) and converts to a finite float. Anything else is kept as given
(text, ``None``, bools, ``Decimal``, an int too large for a float, nan, inf), for the frames;
no value ever fails a run.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Iterator, Mapping
from numbers import Real
from typing import Any

_SCALARS = frozenset({float, int, str, bool, type(None)})
#: Keys that give the x axis of a metric when present, in order of preference.
X_KEYS = ("epoch", "step", "iteration")


class MetricSeries:
    __slots__ = ("x", "y")

    def __init__(self) -> None:
        self.x = array("d")
        self.y = array("d")

    def __len__(self) -> int:
        return len(self.y)

    def snapshot(self) -> tuple[array[float], array[float]]:
        """Copies of ``x`` and ``y`` of equal length, safe while another thread appends.

        ``x`` is appended before ``y``, so the first ``len(y)`` entries of both are whole pairs.
        """
        n = len(self.y)
        return self.x[:n], self.y[:n]


class MetricStore:
    """Metric history grouped by category, then by metric name.

    ``add`` may be called from several threads at once: a lock keeps each call's x and y
    values paired and the call count exact. Readers copy a series with ``snapshot``; they never
    take a buffer of the live arrays (an exported buffer makes ``append`` raise ``BufferError``).
    """

    def __init__(self) -> None:
        self.series: dict[str, dict[str, MetricSeries]] = {}
        self._calls: dict[str, int] = {}
        #: Values that are not numbers (text, ``None``, lists ...), kept for the frames but not
        #: plotted: ``{category: {metric: [(x, value), ...]}}``.
        self.others: dict[str, dict[str, list[tuple[float, Any]]]] = {}
        #: Name of each category's x axis: an ``X_KEYS`` entry, or ``call`` (the call count).
        self.x_labels: dict[str, str] = {}
        #: Bumped on every accepted point, so a display knows whether a redraw is needed.
        self.version = 0
        self._lock = threading.Lock()

    def add(self, value: Mapping[str, Any], category: str | None) -> None:
        """Record one ``set_metrics`` call; nested mappings become ``outer/inner`` names."""
        key = category or "metrics"
        with self._lock:
            count = self._calls.get(key, 0)
            self._calls[key] = count + 1
            x: float = count
            x_key = None
            for candidate in X_KEYS:
                if candidate in value:
                    x_value = value[candidate]
                    kind = type(x_value)
                    # float/int first: an ABC isinstance check costs ~10x a type check.
                    if (
                        kind is int
                        or kind is float
                        or (kind is not bool and isinstance(x_value, Real))
                    ):
                        x_float = _finite(x_value)
                        if x_float is not None:
                            x = x_float
                            x_key = candidate
                    break
            group = self.series.get(key)
            if group is None:
                group = self.series[key] = {}
                self.x_labels[key] = x_key or "call"
            nested: dict[str, Any] | None = None
            for name, metric in value.items():
                kind = type(metric)
                if kind is float or kind is int or (kind is not bool and isinstance(metric, Real)):
                    if name == x_key:
                        continue
                    self._append(key, group, name, x, metric)
                elif kind not in _SCALARS and isinstance(metric, Mapping):
                    # Rare: found while walking, so flat calls pay nothing for the check.
                    nested = nested or {}
                    nested.update(flatten(metric, f"{name}/"))
                else:
                    self._keep_other(key, name, x, metric)
            for name, metric in (nested or {}).items():
                kind = type(metric)
                if kind is float or kind is int or (kind is not bool and isinstance(metric, Real)):
                    self._append(key, group, name, x, metric)
                else:
                    self._keep_other(key, name, x, metric)

    def _append(
        self, key: str, group: dict[str, MetricSeries], name: str, x: float, metric: Any
    ) -> None:
        # A finite float (the common case) without a call; see _finite.
        y = metric if type(metric) is float and metric - metric == 0.0 else _finite(metric)
        if y is None:  # a number, but no finite float: kept, not plotted
            self._keep_other(key, name, x, metric)
            return
        series = group.get(name)
        if series is None:
            series = group[name] = MetricSeries()
        series.x.append(x)
        series.y.append(y)
        self.version += 1

    def _keep_other(self, key: str, name: Any, x: float, metric: Any) -> None:
        self.others.setdefault(key, {}).setdefault(str(name), []).append((x, metric))

    def __iter__(self) -> Iterator[tuple[str, str, MetricSeries]]:
        # Snapshots of the dicts: another thread may add a category or metric meanwhile.
        for category, group in list(self.series.items()):
            for name, series in list(group.items()):
                yield category, name, series

    def __len__(self) -> int:
        return sum(len(series) for _, _, series in self)

    def latest(self) -> dict[str, dict[str, float]]:
        """The last value of every metric, by category."""
        return {
            category: {name: s.y[-1] for name, s in group.items() if len(s)}
            for category, group in self.series.items()
        }

    def latest_by_name(self) -> dict[str, float]:
        """The last value of every metric by its name, ``category/name`` when there are
        several categories (a run's final metrics in a table row)."""
        latest = self.latest()
        if len(latest) == 1:
            return dict(next(iter(latest.values())))
        return {f"{cat}/{name}": v for cat, group in latest.items() for name, v in group.items()}


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (an int past 1e308, nan, inf, not a number)."""
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):
        return None
    # inf - inf and nan - nan are nan; a finite number minus itself is 0.
    return number if number - number == 0.0 else None


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{'lr': {'head': 0.1}}`` -> ``{'lr/head': 0.1}`` (the naming TensorBoard and W&B use)."""
    flat: dict[str, Any] = {}
    for name, metric in value.items():
        key = f"{prefix}{name}"
        if isinstance(metric, Mapping):
            flat.update(flatten(metric, f"{key}/"))
        else:
            flat[key] = metric
    return flat
