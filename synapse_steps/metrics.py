"""Compact history of ``set_metrics`` calls: two float arrays per (category, metric).

A training loop may report metrics 100,000 times; a dict per point would cost ~200 bytes each,
two ``array('d')`` entries cost 16.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from numbers import Real
from typing import Any

#: Keys that give the x axis of a metric when present, in order of preference.
X_KEYS = ("epoch", "step", "iteration")


class MetricSeries:
    __slots__ = ("x", "y")

    def __init__(self) -> None:
        self.x = array("d")
        self.y = array("d")

    def __len__(self) -> int:
        return len(self.y)


class MetricStore:
    """Metric history grouped by category, then by metric name."""

    def __init__(self) -> None:
        self.series: dict[str, dict[str, MetricSeries]] = {}
        self._calls: dict[str, int] = {}
        #: Keys whose values were not numbers (kept out of the plots, counted here).
        self.ignored: dict[str, int] = {}
        #: Name of each category's x axis: an ``X_KEYS`` entry, or ``call`` (the call count).
        self.x_labels: dict[str, str] = {}
        #: Bumped on every accepted point, so a display knows whether a redraw is needed.
        self.version = 0

    def add(self, value: dict[str, Any], category: str | None) -> None:
        key = category or "metrics"
        count = self._calls.get(key, 0)
        self._calls[key] = count + 1
        x: float = count
        x_key = None
        for candidate in X_KEYS:
            if candidate in value:
                x_value = value[candidate]
                if isinstance(x_value, Real) and not isinstance(x_value, bool):
                    x = float(x_value)
                    x_key = candidate
                break
        group = self.series.get(key)
        if group is None:
            group = self.series[key] = {}
            self.x_labels[key] = x_key or "call"
        for name, metric in value.items():
            if name == x_key:
                continue
            if isinstance(metric, Real) and not isinstance(metric, bool):
                series = group.get(name)
                if series is None:
                    series = group[name] = MetricSeries()
                series.x.append(x)
                series.y.append(float(metric))
                self.version += 1
            else:
                self.ignored[name] = self.ignored.get(name, 0) + 1

    def __iter__(self) -> Iterator[tuple[str, str, MetricSeries]]:
        for category, group in self.series.items():
            for name, series in group.items():
                yield category, name, series

    def __len__(self) -> int:
        return sum(len(series) for _, _, series in self)

    def latest(self) -> dict[str, dict[str, float]]:
        """The last value of every metric, by category."""
        return {
            category: {name: s.y[-1] for name, s in group.items() if len(s)}
            for category, group in self.series.items()
        }
