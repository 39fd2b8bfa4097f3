"""Metric records kept as columns in the journal: exact round trips; what never joins a batch."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from synapse_steps.events import MetricsReported, to_dict
from synapse_steps.journal._metric_batch import BATCH_TYPE, MetricBatch, expand


def _gather(records: list[MetricsReported]) -> list[dict[str, Any]]:
    """What the journal stores for a stream of metric records: batches where they fit."""
    out: list[Any] = []
    batch: MetricBatch | None = None
    for record in records:
        if batch is not None and batch.add(record.category, record.values, record.time):
            continue
        batch = MetricBatch.start(record.category, record.values, record.time)
        out.append(batch if batch is not None else to_dict(record))
    # Through JSON, as the journal stores them.
    return json.loads(json.dumps([r.to_dict() if isinstance(r, MetricBatch) else r for r in out]))


def test_a_training_loop_becomes_one_batch_and_comes_back_exactly() -> None:
    records = [
        MetricsReported("train", {"loss": 1 / (i + 1), "epoch": i, "lr": 1e-3}, 100.0 + i / 7)
        for i in range(1000)
    ]
    stored = _gather(records)
    assert [r["type"] for r in stored] == [BATCH_TYPE]
    back = expand(stored)
    assert back == [to_dict(r) for r in records]
    # Types survive: an int epoch stays an int, a float stays a float.
    assert {type(r["values"]["epoch"]) for r in back} == {int}
    assert {type(r["values"]["loss"]) for r in back} == {float}


def test_other_values_keys_or_categories_start_a_new_batch_or_stay_plain_records() -> None:
    records = [
        MetricsReported("train", {"loss": 0.5}, 1.0),
        MetricsReported("train", {"loss": 0.4}, 2.0),
        MetricsReported("train", {"loss": "nan?"}, 3.0),  # text: a plain record
        MetricsReported("train", {"loss": 0.3, "acc": 0.9}, 4.0),  # new keys: new batch
        MetricsReported("val", {"loss": 0.35, "acc": 0.88}, 5.0),  # new category
        MetricsReported("val", {"loss": True, "acc": 0.8}, 6.0),  # a bool is not a number here
        MetricsReported("val", {"loss": 2**70, "acc": 0.8}, 7.0),  # beyond int64
        MetricsReported("val", {"loss": 1, "acc": 0.8}, 8.0),  # int where floats were
        MetricsReported("val", {"loss": {"a": 1.0}}, 9.0),  # nested
    ]
    stored = _gather(records)
    assert [r["type"] for r in stored] == [
        BATCH_TYPE,
        "MetricsReported",
        BATCH_TYPE,
        BATCH_TYPE,
        "MetricsReported",
        "MetricsReported",
        BATCH_TYPE,
        "MetricsReported",
    ]
    assert expand(stored) == [to_dict(r) for r in records]


def test_a_refused_record_leaves_the_batch_as_it_was() -> None:
    batch = MetricBatch.start("train", {"loss": 0.5, "step": 1}, 1.0)
    assert batch is not None
    assert not batch.add("train", {"loss": 0.4, "step": 2.5}, 2.0)  # float in the int column
    assert not batch.add("train", {"loss": 0.4}, 2.0)
    assert not batch.add("train", {"loss": 0.4, "other": 2}, 2.0)
    assert not batch.add("eval", {"loss": 0.4, "step": 2}, 2.0)
    assert len(batch) == 1
    assert [len(column) for column in batch.columns] == [1, 1]


def test_nan_and_infinities_come_back() -> None:
    values = [math.nan, math.inf, -math.inf, -0.0, 5e-324, 1.7976931348623157e308]
    stored = _gather([MetricsReported("m", {"x": v}, float(i)) for i, v in enumerate(values)])
    back = [r["values"]["x"] for r in expand(stored)]
    assert math.isnan(back[0])
    assert back[1:] == values[1:]
    assert math.copysign(1.0, back[3]) == -1.0


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.update(count=r["count"] + 1),
        lambda r: r.update(times="not base64!"),
        lambda r: r.update(columns=r["columns"][:1]),
        lambda r: r.update(kinds="d"),
    ],
    ids=["count", "times", "columns", "kinds"],
)
def test_an_altered_batch_is_an_error_not_wrong_numbers(change: Any) -> None:
    stored = _gather([MetricsReported("m", {"a": 1.0, "b": 2}, 0.0)] * 3)
    change(stored[0])
    with pytest.raises((ValueError, KeyError, TypeError)):
        expand(stored)


_number = st.one_of(
    st.floats(allow_nan=False), st.integers(min_value=-(2**63), max_value=2**63 - 1)
)
_value = st.one_of(_number, st.booleans(), st.none(), st.text(max_size=3), st.integers())
_record = st.builds(
    MetricsReported,
    st.sampled_from(["train", "val"]),
    st.dictionaries(st.sampled_from(["loss", "acc", "step"]), _value, min_size=1),
    st.floats(min_value=0, max_value=1e9),
)


@given(st.lists(_record, max_size=40))
def test_any_stream_of_metric_records_comes_back_in_order(records: list[MetricsReported]) -> None:
    assert expand(_gather(records)) == [to_dict(r) for r in records]
