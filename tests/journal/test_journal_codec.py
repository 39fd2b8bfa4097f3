"""Step results come back from the journal as the same values of the same types."""

from __future__ import annotations

import json
import math
import uuid
from collections import OrderedDict
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from enum import IntEnum
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from synapse_steps.journal._codec import _DUMP, _DUMP_RECORD, decode, encode_mapping, encode_records


def same(a: Any, b: Any) -> bool:
    """Equal, with the same type at every level (so 1 != 1.0 != True, (1,) != [1])."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime | time):
        return a == b and a.tzinfo == b.tzinfo and a.fold == b.fold
    return bool(a == b)


def roundtrip(mapping: dict[str, Any]) -> dict[str, Any]:
    text, problems = encode_mapping(mapping)
    assert problems == []
    result = decode(text)
    assert isinstance(result, dict)
    return result


offsets = st.builds(
    lambda minutes, name: (
        timezone(timedelta(minutes=minutes), name) if name else timezone(timedelta(minutes=minutes))
    ),
    st.integers(-23 * 60, 23 * 60),
    st.sampled_from([None, "EST", "custom zone"]),
)
zones = st.sampled_from([ZoneInfo("Europe/Paris"), ZoneInfo("America/New_York"), ZoneInfo("UTC")])
tzs = st.none() | offsets | zones
hashable_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary(max_size=20)
    | st.builds(Path, st.text(st.characters(blacklist_characters="\x00"), max_size=10))
    | st.builds(PurePosixPath, st.text(max_size=10))
    | st.builds(PureWindowsPath, st.text(max_size=10))
    | st.datetimes(timezones=tzs)
    | st.dates()
    | st.times(timezones=st.none() | offsets)
    | st.timedeltas()
    | st.decimals(allow_nan=False)
    | st.uuids()
)
hashables = st.recursive(
    hashable_scalars,
    lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
values = st.recursive(
    hashable_scalars | st.binary().map(bytearray),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.sets(hashables, max_size=4)
        | st.frozensets(hashables, max_size=4)
        | st.dictionaries(st.text(max_size=5) | st.just("$t") | st.just("v"), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text() | st.just("$t"), values, max_size=5))
def test_every_supported_value_round_trips_with_its_type(mapping: dict[str, Any]) -> None:
    assert same(roundtrip(mapping), mapping)


def test_a_path_stays_a_path_and_tuples_sets_bytes_keep_their_types() -> None:
    value = {
        "path": Path("/data/run 1/out.txt"),
        "posix": PurePosixPath("a/b"),
        "win": PureWindowsPath(r"C:\models\m.pt"),
        "pair": (1, "x"),
        "ids": {1, 2},
        "frozen": frozenset({"a"}),
        "raw": b"\x00\xff",
        "buf": bytearray(b"ab"),
        "when": datetime(2026, 12, 1, 3, 0, tzinfo=ZoneInfo("Europe/Paris")),
        "naive": datetime(2026, 12, 1, 3, 0, 0, 123456),
        "day": date(2026, 1, 2),
        "price": Decimal("1.10"),
        "id": uuid.UUID(int=7),
        "nan": math.nan,
        "inf": -math.inf,
        "big": 2**100,
        "nested": [{"$t": "path", "v": "not a path"}, ["x", (None,)]],
    }
    back = roundtrip(value)
    assert same(back, value)
    assert type(back["path"]) is type(Path())
    assert str(back["price"]) == "1.10"


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (open, "builtin_function_or_method"),
        (lambda: 1, "function"),
        (object(), "builtins.object"),
        (np.float64(1.5), "numpy.float64"),
        (np.arange(3), "numpy.ndarray"),
        (OrderedDict(a=1), "OrderedDict"),
        (IntEnum("Color", "RED").RED, "Color"),
        ({1: "int key"}, "not a str"),
        ([1, {"deep": [object()]}], "builtins.object"),
    ],
)
def test_a_value_of_another_type_is_reported_with_where_it_is(value: Any, what: str) -> None:
    text, problems = encode_mapping({"ok": Path("kept"), "bad": value})
    assert len(problems) == 1
    assert problems[0].startswith("['bad']")
    assert what in problems[0]
    # What could be stored still is.
    assert decode(text) == {"ok": Path("kept")}


def test_open_file_and_every_bad_key_are_named() -> None:
    with open(__file__) as fh:
        _text, problems = encode_mapping({"fh": fh, 3: "x", "fine": 1, "rec": _self_ref()})
    assert [p.split(":")[0] for p in problems] == ["['fh']", "[3]", "['rec']"]


def _self_ref() -> list[Any]:
    loop: list[Any] = []
    loop.append(loop)
    return loop


def test_a_record_never_fails_and_keeps_what_json_can_hold() -> None:
    record = {"type": "Logged", "data": {"path": Path("p"), "obj": object(), "n": 1}}
    (back,) = decode(encode_records([record]))
    assert back["type"] == "Logged"
    assert back["data"]["path"] == Path("p")
    assert back["data"]["n"] == 1
    assert back["data"]["obj"].startswith("<object object")
    fine, weird = decode(encode_records([{"type": "A"}, {"type": "Logged", (1, 2): "tuple key"}]))
    assert fine == {"type": "A"}
    assert weird["type"] == "Logged"
    assert "tuple key" in weird["unstorable"]


@pytest.mark.parametrize(
    "value",
    [
        {"a": 1, "b": [1.5, None, True, 'é\n"x"'], "c": {"d": -0.0}},
        [float("nan"), float("inf"), -1e300, 10**30],
        "a str alone",
        3,
        None,
        [],
    ],
)
def test_the_reused_encoder_writes_what_json_dumps_writes(value: Any) -> None:
    # Each encoder is built once (not per call, as json.dumps does); its text must not differ.
    assert _DUMP(value) == json.dumps(value)
    assert _DUMP_RECORD(value) == json.dumps(value)


def test_records_encode_the_same_after_a_cyclic_one() -> None:
    # The reused encoder keeps no state from a call that failed half-way through a value.
    shared: list[Any] = [1]
    shared.append(shared)
    (bad,) = decode(encode_records([{"type": "Logged", "event": "e", "data": shared}]))
    assert bad["type"] == "Logged"
    assert bad["event"] == "e"  # the record keeps its fields; the cycle, as its repr
    assert "[...]" in bad["data"]
    shared.pop()
    assert decode(encode_records([{"type": "Logged", "data": shared}])) == [
        {"type": "Logged", "data": [1]}
    ]
