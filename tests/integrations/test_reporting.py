"""What the framework callbacks share, without any framework installed (``make test``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest

from synapse_steps.context import RuntimeContext
from synapse_steps.errors import MissingDependencyError, UsageError
from synapse_steps.integrations._reporting import (
    BatchProgress,
    as_number,
    check_context,
    check_every,
    guarded,
    numeric,
    require,
)
from synapse_steps.steps import BaseStepContext


class OneElement:
    """Stands for a one-element tensor: ``item()`` and a ``size()`` method."""

    def __init__(self, value: Any, shape: tuple[int, ...] = ()) -> None:
        self.value, self.shape = value, shape

    def size(self) -> tuple[int, ...]:
        return self.shape

    def item(self) -> Any:
        return self.value


class Hostile:
    def __float__(self) -> float:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3.0),
        (0.25, 0.25),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7.0),
        (np.array([2.5]), 2.5),
        (np.array(1.5), 1.5),
        (OneElement(0.75), 0.75),
        (OneElement(0.75, (1, 1)), 0.75),
        (OneElement(0.75, (3,)), None),
        (OneElement(True), None),
        (np.array([1.0, 2.0]), None),
        (True, None),
        (None, None),
        ("0.5", None),
        (b"1", None),
        ([1.0], None),
        ({"a": 1}, None),
        (Hostile(), None),
        (OneElement(Hostile()), None),
    ],
)
def test_as_number_takes_numbers_and_one_element_arrays_and_never_raises(
    value: Any, expected: float | None
) -> None:
    assert as_number(value) == expected


def test_non_finite_values_stay_as_they_are() -> None:
    assert math.isnan(as_number(float("nan")))  # type: ignore[arg-type]
    assert as_number(np.float64("inf")) == math.inf
    values = numeric({"loss": float("nan"), "note": "diverged", "lr": 0.1})
    assert list(values) == ["loss", "lr"]
    assert math.isnan(values["loss"])


def test_numeric_renames_and_drops() -> None:
    values = {"metrics/mAP50(B)": 0.5, "lr/pg1": 0.1, "train/box_loss": np.float32(1.5)}
    rename = {"metrics/mAP50(B)": "mAP50", "train/box_loss": "train/box_loss"}.get
    assert numeric(values, rename) == {"mAP50": 0.5, "train/box_loss": 1.5}


def test_batch_progress_counts_over_all_epochs() -> None:
    calls: list[tuple[float, float]] = []
    progress = BatchProgress(lambda current, total: calls.append((current, total)))
    progress.batch_done(0)  # before any epoch: nothing known, nothing reported
    progress.start_epoch(0, 3, 2)
    for index in range(3):
        progress.batch_done(index)
    progress.start_epoch(1, 3, 2)
    progress.batch_done(0)
    progress.batch_done(7)  # more batches than announced: never past the total
    progress.finish()
    assert calls == [(0, 6), (1, 6), (2, 6), (3, 6), (3, 6), (4, 6), (6, 6), (6, 6)]


def test_a_runtime_context_takes_the_calls_too() -> None:
    # Outside a step: the callbacks may report to a RuntimeContext directly.
    runtime = RuntimeContext(display="off")
    check_context(runtime, "X")
    BatchProgress(runtime.set_progress).start_epoch(0, 2, 1)
    assert runtime.recorder.run.loose_categories == {"progress": (0, 2)}


def test_bad_arguments_are_named() -> None:
    with pytest.raises(UsageError, match=r"X needs the step's context.*lacks set_progress"):
        check_context(object(), "X")
    for bad in (0, -1):
        with pytest.raises(UsageError, match="at least 1"):
            check_every(bad, "X")
    for bad in (True, 2.0, "3"):
        with pytest.raises(UsageError, match="positive int or None"):
            check_every(bad, "X")  # type: ignore[arg-type]
    assert check_every(None, "X") is None
    assert check_every(5, "X") == 5


class Reporter:
    def __init__(self) -> None:
        self.reporting_failed = False
        self.calls = 0

    @guarded
    def on_batch(self, fail: bool) -> str:
        self.calls += 1
        if fail:
            raise ValueError("bad value")
        return "ok"

    @guarded
    def on_interrupt(self) -> None:
        raise KeyboardInterrupt


def test_a_callback_error_warns_once_and_never_reaches_the_training() -> None:
    reporter = Reporter()
    assert reporter.on_batch(False) == "ok"
    with pytest.warns(RuntimeWarning, match=r"Reporter.on_batch raised ValueError\('bad value'\)"):
        assert reporter.on_batch(True) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reporter.on_batch(False) is None  # quiet from now on
    assert reporter.calls == 2
    with pytest.raises(KeyboardInterrupt):  # the stop button is not an error
        Reporter().on_interrupt()


def test_a_missing_framework_names_the_extra() -> None:
    with pytest.raises(MissingDependencyError, match=r"pip install 'synapse-steps\[yolo\]'"):
        require("no_such_framework_here", extra="yolo", feature="X")


_PROBE = """
import json, sys
for name in ("lightning", "keras", "ultralytics", "torch"):
    sys.modules[name] = None  # as if not installed
import synapse_steps.integrations, synapse_steps.integrations.ultralytics
from synapse_steps.actions.yolo import YoloTrainAction, YoloTrainParams
YoloTrainAction(YoloTrainParams(dataset=1))
report = {"imported": sorted(m for m in ("torch", "ultralytics", "lightning", "keras")
                             if sys.modules.get(m) is not None)}
for module in ("lightning", "keras"):
    try:
        __import__(f"synapse_steps.integrations.{module}")
    except ImportError as exc:
        report[module] = f"{type(exc).__name__}: {exc}"
print(json.dumps(report))
"""


def test_no_framework_is_imported_until_used_and_a_missing_one_names_its_extra() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(done.stdout)
    assert report["imported"] == []
    assert report["lightning"].startswith("MissingDependencyError: synapse_steps.integrations.")
    assert "pip install 'synapse-steps[lightning]'" in report["lightning"]
    assert "pip install 'synapse-steps[keras]'" in report["keras"]


def test_the_context_of_a_step_is_accepted() -> None:
    check_context(BaseStepContext(runtime_ctx=RuntimeContext(display="off")), "X")
