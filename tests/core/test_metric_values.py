"""Metric values that are numbers but not finite floats never fail a run.

A metric is plotted when it is a finite float (or converts to one); anything else (an int too
large for a float, nan, inf, a ``Decimal``, a bool) is kept as given, like text, and shown in
the frames, never plotted.
"""

from __future__ import annotations

import math
import warnings
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from synapse_steps import RuntimeContext
from synapse_steps.display.plots import metrics_figure
from synapse_steps.metrics import MetricStore
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

HUGE = 10**400
#: Past Python's 4,300-digit limit: not even str() can write it.
TOO_LONG_FOR_TEXT = 10**5000
ODD: dict[str, Any] = {
    "huge": HUGE,
    "too_long": TOO_LONG_FOR_TEXT,
    "nan": float("nan"),
    "inf": float("inf"),
    "minus_inf": -math.inf,
    "decimal": Decimal("1.5"),
    "huge_decimal": Decimal("1e400"),
    "flag": True,
    "huge_fraction": Fraction(HUGE, 3),
    "np_inf": np.float64("inf"),
    "np_nan": np.float32("nan"),
    "np_bool": np.bool_(True),
}
PLOTTED: dict[str, Any] = {
    "loss": 0.5,
    "count": 7,
    "big_int": 2**70,  # a float holds it (rounded)
    "np_float": np.float32(0.25),
    "np_int": np.int64(3),
    "fraction": Fraction(1, 4),
}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return type(a) is type(b) and bool(a == b)


def test_only_finite_numbers_are_plotted_and_the_rest_is_kept_as_given() -> None:
    store = MetricStore()
    store.add({**PLOTTED, **ODD}, "train")
    assert set(store.series["train"]) == set(PLOTTED)
    assert store.series["train"]["big_int"].y[0] == float(2**70)
    others = store.others["train"]
    assert set(others) == set(ODD)
    for name, value in ODD.items():
        ((x, kept),) = others[name]
        assert x == 0.0
        assert kept is value or _same(kept, value), name
    assert all(math.isfinite(s.y[0]) for s in store.series["train"].values())
    assert store.latest() == {"train": {n: float(v) for n, v in PLOTTED.items()}}


@pytest.mark.parametrize("x", [HUGE, float("nan"), float("inf"), Decimal("2")])
def test_an_x_value_that_is_not_a_finite_number_counts_calls_instead(x: Any) -> None:
    store = MetricStore()
    store.add({"loss": 0.5, "epoch": x}, "train")
    store.add({"loss": 0.25, "epoch": 1}, "train")
    series = store.series["train"]["loss"]
    assert list(series.y) == [0.5, 0.25]
    assert all(math.isfinite(v) for v in series.x)
    ((_x, kept),) = store.others["train"]["epoch"]
    assert kept is x or _same(kept, x)


class Reporting(BaseStep[BaseStepContext]):
    name = "report"
    progress_weight = 1.0

    def execute(self, context: BaseStepContext) -> StepResult:
        for epoch in range(3):
            context.set_metrics({**PLOTTED, **ODD, "epoch": epoch}, "train")
        context.set_metrics({"n": HUGE})
        return StepResult(data={"ok": True})


@pytest.mark.parametrize("display", ["off", "console"])
@pytest.mark.parametrize("journal", [False, True])
def test_a_run_reporting_them_succeeds_with_or_without_a_journal(
    tmp_path: Path, display: str, journal: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = StepRegistry[BaseStepContext]()
    registry.register(Reporting())
    context = BaseStepContext(runtime_ctx=RuntimeContext(display=display))
    path = tmp_path / "j.sqlite3" if journal else False
    orchestrator = Orchestrator(registry, context, name="metrics", journal=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no front end dropped, no journal switched off
        assert orchestrator.execute()["success"]
    store = context.runtime_ctx.recorder.run.metrics
    assert set(store.series["train"]) == set(PLOTTED)
    assert store.others["report"]["n"] == [(0, HUGE)]  # the step names an unnamed category
    if display == "console":
        out = capsys.readouterr().out
        assert f"n={HUGE}" in out
        assert "too_long=<int of about 5001 digits>" in out
    if journal:
        from synapse_steps.journal import run_records

        (run_id,) = orchestrator._journal_subscriber.journal_run_ids
        reported = [r for r in run_records(run_id, path) if r["type"] == "MetricsReported"]
        assert reported[-1]["values"] == {"n": HUGE}
        assert reported[0]["values"]["huge"] == HUGE
        # Kept as what can be said of it; the record's other values as they were.
        assert reported[0]["values"]["too_long"] == "<int of about 5001 digits>"
        assert reported[0]["values"]["loss"] == 0.5
    figure = metrics_figure(store)  # draws the finite ones only
    assert len(figure.axes) >= 1


def test_a_huge_int_metric_shows_in_the_metrics_frame_as_text() -> None:
    # str() of an int past 4,300 digits raises: the DataFrame must not (display/frames.py).
    from synapse_steps import RuntimeContext

    runtime = RuntimeContext(display="off")
    runtime.set_metrics({"n": 10**5000, "epoch": 1}, "fit")
    frame = runtime.recorder.metrics_frame()
    (text,) = frame["text"].dropna()
    assert "digits" in text
