"""A training loop's metric records in the journal, as columns of numbers.

A loop may call ``set_metrics`` 100,000 times, and the journal keeps every call. Written as JSON,
each record costs ~5 us, most of it turning floats into decimal text. So consecutive
``MetricsReported`` records of one category, with the same keys and every value a plain float or
int, are gathered into one ``MetricBatch``: a float64 array of times and a float64 / int64 array
per key. It is journaled as one ``MetricsBatch`` record holding those arrays in base64 (exact,
and ~10x cheaper), and ``expand`` turns it back into the ``MetricsReported`` dicts ``to_dict``
gives, in order. Anything else (text, ``None``, nested or new keys) starts a new batch or is
journaled as a plain record.
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

#: The ``type`` of a journaled batch (never a core record type).
BATCH_TYPE = "MetricsBatch"
#: The ``type`` of what a batch holds (the core's ``MetricsReported.to_dict()["type"]``).
METRICS_TYPE = "MetricsReported"
_INT64 = (-(2**63), 2**63)
# Arrays are stored little-endian whatever the machine, so a journal moves between machines.
_SWAP = sys.byteorder != "little"


def metric_record(category: str, values: Mapping[str, Any], time: float) -> dict[str, Any]:
    """One metric record as the core's ``to_dict(MetricsReported(...))`` gives it."""
    return {"type": METRICS_TYPE, "category": category, "values": values, "time": time}


def _kind(value: Any) -> str | None:
    """The array type code a value fits exactly: 'd' float, 'q' int64, None for anything else."""
    kind = type(value)
    if kind is float:
        return "d"
    if kind is int and _INT64[0] <= value < _INT64[1]:
        return "q"
    return None


class MetricBatch:
    """Consecutive metric records of one category with the same keys and value kinds."""

    __slots__ = ("category", "columns", "kinds", "names", "times")

    def __init__(self, category: str, names: tuple[str, ...], kinds: str) -> None:
        self.category = category
        self.names = names
        self.kinds = kinds
        self.times = array("d")
        self.columns = tuple(array(kind) for kind in kinds)

    @classmethod
    def start(cls, category: str, values: Mapping[str, Any], time: float) -> MetricBatch | None:
        """A batch holding this record, or None if its values are not all plain numbers."""
        kinds = [_kind(value) for value in values.values()]
        if not kinds or None in kinds or not all(type(name) is str for name in values):
            return None
        batch = cls(category, tuple(values), "".join(kinds))  # type: ignore[arg-type]
        batch.add(category, values, time)
        return batch

    def add(self, category: str, values: Mapping[str, Any], time: float) -> bool:
        """Append the record if it fits this batch (True); leave the batch as it was if not."""
        if category != self.category or len(values) != len(self.names):
            return False
        try:
            row = [values[name] for name in self.names]
        except KeyError:
            return False
        for value, kind in zip(row, self.kinds, strict=True):
            # Exact types only: a bool is an int, and a float into an int column would change.
            if kind == "d":
                if type(value) is not float:
                    return False
            elif type(value) is not int or not _INT64[0] <= value < _INT64[1]:
                return False
        self.times.append(time)
        for column, value in zip(self.columns, row, strict=True):
            column.append(value)
        return True

    def __len__(self) -> int:
        return len(self.times)

    def to_dict(self) -> dict[str, Any]:
        """The batch as one JSON-able record."""
        return {
            "type": BATCH_TYPE,
            "category": self.category,
            "names": list(self.names),
            "kinds": self.kinds,
            "count": len(self.times),
            "times": _pack(self.times),
            "columns": [_pack(column) for column in self.columns],
        }


def _pack(values: array[Any]) -> str:
    if _SWAP:
        values = array(values.typecode, values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def _unpack(kind: str, text: str, count: int) -> array[Any]:
    values = array(kind)
    values.frombytes(base64.b64decode(text, validate=True))
    if _SWAP:
        values.byteswap()
    if len(values) != count:
        raise ValueError(f"a {BATCH_TYPE} record holds {len(values)} values where {count} belong")
    return values


def expand(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records with every batch turned back into its ``MetricsReported`` dicts, in order.

    Raises ``ValueError`` (or ``KeyError``/``TypeError``) for a batch that was altered.
    """
    out: list[dict[str, Any]] = []
    for record in records:
        if record.get("type") != BATCH_TYPE:
            out.append(record)
            continue
        count = record["count"]
        names, kinds = record["names"], record["kinds"]
        if len(names) != len(kinds) or len(record["columns"]) != len(kinds):
            raise ValueError(f"a {BATCH_TYPE} record's names, kinds and columns do not match")
        times = _unpack("d", record["times"], count)
        columns = [
            _unpack(kind, text, count) for kind, text in zip(kinds, record["columns"], strict=True)
        ]
        category = record["category"]
        for index, time in enumerate(times):
            values = {name: column[index] for name, column in zip(names, columns, strict=True)}
            out.append(metric_record(category, values, time))
    return out


def last_record(record: dict[str, Any]) -> dict[str, Any] | None:
    """The last ``MetricsReported`` dict a batch holds (None if it holds none), without the
    others: what a listing of runs needs to show each metric's last value."""
    count = record["count"]
    if not count:
        return None
    names, kinds = record["names"], record["kinds"]
    if len(names) != len(kinds) or len(record["columns"]) != len(kinds):
        raise ValueError(f"a {BATCH_TYPE} record's names, kinds and columns do not match")
    time = _unpack("d", record["times"], count)[-1]
    values = {
        name: _unpack(kind, text, count)[-1]
        for name, kind, text in zip(names, kinds, record["columns"], strict=True)
    }
    return metric_record(record["category"], values, time)
