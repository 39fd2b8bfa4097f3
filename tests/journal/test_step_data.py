"""What the journal keeps of a step's ``data``: small plain values as they are, else a summary."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from synapse_steps.journal._codec import decode
from synapse_steps.journal.step_data import (
    DATA_LIMIT,
    data_text,
    describe,
    is_summary,
    journaled_data,
)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"rows": 3, "ok": True, "loss": 0.25, "name": "train", "none": None},
        {"path": Path("/data/x.csv"), "day": date(2026, 12, 6), "ids": [1, 2, 3]},
        {"nested": {"a": [1, {"b": "c"}]}, "t": (1, 2)},
        {"text": "x" * (DATA_LIMIT - 20)},
    ],
)
def test_small_plain_data_is_kept_as_it_is(data: dict[str, Any]) -> None:
    assert decode(data_text(data)) == data
    assert journaled_data(data) is data


@pytest.mark.parametrize(
    ("data", "summary"),
    [
        ({"values": list(range(1_000_000))}, {"values": "list of 1000000"}),
        ({"text": "x" * (DATA_LIMIT + 1)}, {"text": "str of 4097"}),
        ({"frame": pd.DataFrame({"a": range(1000), "b": 0.5})}, {"frame": "DataFrame (1000, 2)"}),
        ({"array": np.zeros((3, 4))}, {"array": "ndarray (3, 4) float64"}),
        ({"model": object(), "n": 1}, {"model": "object", "n": "int"}),
        ({1: "not a str key"}, {"1": "str of 13"}),
    ],
)
def test_large_or_odd_data_is_kept_as_a_summary(
    data: dict[Any, Any], summary: dict[str, str]
) -> None:
    kept = decode(data_text(data))
    assert is_summary(kept)
    assert kept == summary
    assert journaled_data(data) == summary


def test_data_that_is_no_dict_or_nested_too_deeply_is_summarised_without_error() -> None:
    deep: list[Any] = []
    for _ in range(5_000):
        deep = [deep]
    assert decode(data_text({"deep": deep})) == {"deep": "list of 1"}
    assert decode(data_text(None)) == {"": "NoneType"}
    assert decode(data_text([1, 2])) == {"": "list of 2"}


def test_a_summary_names_at_most_twenty_keys() -> None:
    data = {f"k{i}": object() for i in range(50)}
    summary = decode(data_text(data))
    assert len(summary) == 21
    assert summary["..."] == "30 more keys"


def test_a_user_dict_shaped_like_a_summary_is_kept_as_data_not_taken_for_one() -> None:
    data = {"$t": "summary", "v": {"a": "b"}}
    kept = decode(data_text(data))
    assert kept == data  # the codec escapes a user's "$t" key
    assert not is_summary(kept)


def test_a_summary_made_on_a_worker_is_kept_as_the_same_summary() -> None:
    data = {"frame": pd.DataFrame({"a": [1]})}
    assert data_text(journaled_data(data)) == data_text(data)


def test_describe_survives_a_shape_property_that_raises() -> None:
    class Odd:
        @property
        def shape(self) -> Any:
            raise RuntimeError("no shape yet")

    assert describe(Odd()) == "Odd"
