"""Metric history: two float arrays per metric, an x axis taken from epoch/step/iteration."""

from __future__ import annotations

import sys
from array import array

import numpy as np
import pytest

from synapse_steps.display.plots import MAX_POINTS, metrics_figure, series_arrays
from synapse_steps.metrics import MetricSeries, MetricStore


def test_a_hundred_thousand_points_cost_two_doubles_each() -> None:
    store = MetricStore()
    for i in range(100_000):
        store.add({"loss": 1.0 / (i + 1), "accuracy": i / 100_000, "step": i}, "train")
    group = store.series["train"]
    assert set(group) == {"loss", "accuracy"}  # the x key is not a metric
    for series in group.values():
        assert isinstance(series.x, array)
        assert isinstance(series.y, array)
        assert (series.x.typecode, series.x.itemsize, series.y.itemsize) == ("d", 8, 8)
        assert len(series.x) == len(series.y) == 100_000
        # array over-allocates a little: under 20 bytes per point all in.
        assert sys.getsizeof(series.x) + sys.getsizeof(series.y) < 20 * 100_000
    assert not hasattr(MetricSeries(), "__dict__")  # slots: no dict per series either
    assert len(store) == 200_000
    assert store.version == 200_000


@pytest.mark.parametrize(
    ("value", "x_label", "x"),
    [
        ({"loss": 0.5, "epoch": 3}, "epoch", 3.0),
        ({"loss": 0.5, "step": 12}, "step", 12.0),
        ({"loss": 0.5, "iteration": 7.5}, "iteration", 7.5),
        ({"loss": 0.5, "epoch": 2, "step": 40}, "epoch", 2.0),  # epoch first; step is a metric
        ({"loss": 0.5}, "call", 0.0),
        ({"loss": 0.5, "epoch": "three"}, "call", 0.0),  # not a number: the call count
        ({"loss": 0.5, "epoch": True}, "call", 0.0),  # bools are not numbers here
        ({"loss": 0.5, "epoch": np.int64(5)}, "epoch", 5.0),
    ],
)
def test_x_axis(value: dict[str, object], x_label: str, x: float) -> None:
    store = MetricStore()
    store.add(value, "fit")
    assert store.x_labels == {"fit": x_label}
    assert list(store.series["fit"]["loss"].x) == [x]


def test_call_count_is_per_category() -> None:
    store = MetricStore()
    for i in range(3):
        store.add({"loss": float(i)}, "train")
    store.add({"loss": 9.0}, "val")
    store.add({"loss": 8.0}, None)
    assert list(store.series["train"]["loss"].x) == [0.0, 1.0, 2.0]
    assert list(store.series["val"]["loss"].x) == [0.0]
    assert list(store.series["metrics"]["loss"].x) == [0.0]  # no category -> 'metrics'


def test_only_numbers_are_kept() -> None:
    store = MetricStore()
    store.add({"loss": 0.25, "lr": np.float32(0.5), "tag": "best", "done": False, "n": 3}, "c")
    assert {name: list(s.y) for name, s in store.series["c"].items()} == {
        "loss": [0.25],
        "lr": [0.5],
        "n": [3.0],
    }
    # values that are not numbers are kept apart (for the frames), never plotted
    assert store.others == {"c": {"tag": [(0.0, "best")], "done": [(0.0, False)]}}
    assert "tag" not in store.series["c"]
    assert "done" not in store.series["c"]
    assert store.latest() == {"c": {"loss": 0.25, "lr": 0.5, "n": 3.0}}


def test_series_arrays_strides_long_series_and_keeps_the_last_point() -> None:
    series = MetricSeries()
    for i in range(100_000):
        series.x.append(float(i))
        series.y.append(float(2 * i))
    x, y = series_arrays(series)
    assert len(x) == len(y) <= MAX_POINTS + 1
    assert (x[0], x[-1], y[-1]) == (0.0, 99_999.0, 199_998.0)
    assert np.all(np.diff(x) > 0)
    x[0] = -1.0  # a copy: the history is untouched
    assert series.x[0] == 0.0

    short = MetricSeries()
    short.x.extend([1.0, 2.0])
    short.y.extend([3.0, 4.0])
    assert [list(a) for a in series_arrays(short)] == [[1.0, 2.0], [3.0, 4.0]]


def test_static_figure_has_one_panel_per_metric() -> None:
    store = MetricStore()
    for epoch in range(5):
        store.add({"loss": 1.0 / (epoch + 1), "acc": epoch / 5, "epoch": epoch}, "train")
        store.add({"loss": 2.0 / (epoch + 1)}, "val")
    figure = metrics_figure(store)
    titles = [ax.get_title() for ax in figure.axes]
    # Panels are named as in the live view (display/panels.py), latest value included.
    assert titles == ["train · loss = 0.2", "train · acc = 0.8", "val · loss = 0.4"]
    assert [ax.get_xlabel() for ax in figure.axes] == ["epoch", "epoch", "call"]
    assert list(figure.axes[0].lines[0].get_xdata()) == [0.0, 1.0, 2.0, 3.0, 4.0]

    empty = metrics_figure(MetricStore())
    assert [t.get_text() for t in empty.texts] == ["no metrics reported"]


def test_nested_mappings_become_outer_slash_inner_names() -> None:
    from collections import OrderedDict

    store = MetricStore()
    store.add({"lr": {"head": 0.1, "body": {"low": 0.01}}, "epoch": 1}, "opt")
    # any mapping is nested metrics, not only a plain dict (OrderedDict from a state_dict ...)
    store.add({"lr": OrderedDict(head=0.2), "epoch": 2}, "opt")
    assert {name: list(s.y) for name, s in store.series["opt"].items()} == {
        "lr/head": [0.1, 0.2],
        "lr/body/low": [0.01],
    }
    assert store.others == {}
    assert store.x_labels == {"opt": "epoch"}


def test_each_category_keeps_its_own_x_column_in_the_frame() -> None:
    from synapse_steps.display.frames import metrics_frame

    store = MetricStore()
    store.add({"loss": 0.5, "epoch": 1}, "train")
    store.add({"acc": 0.9, "step": 100}, "val")
    frame = metrics_frame(store)
    assert list(frame.columns) == ["category", "metric", "epoch", "step", "value"]
    rows = frame.to_dict("records")
    assert (rows[0]["category"], rows[0]["epoch"], rows[0]["value"]) == ("train", 1.0, 0.5)
    assert np.isnan(rows[0]["step"])
    assert (rows[1]["category"], rows[1]["step"], rows[1]["value"]) == ("val", 100.0, 0.9)
    assert np.isnan(rows[1]["epoch"])
