"""What the journal keeps of a step's ``data``: the values when they are small and plain, else a
short summary of their types.

Recovery needs a step's ``rollback_data`` (the seed documents it as "the data needed for
rollback"), not its ``data``: a step's ``data`` is often a DataFrame, an array or a model. The
run history shows what a step returned, so small plain values (at most ``DATA_LIMIT`` bytes as
JSON: numbers, strings, paths, dates, short lists) are kept as they are; anything else is kept as
a summary such as ``{"frame": "DataFrame (1000, 3)", "rows": "int"}``. Deciding costs the same
whatever the size of the data: the walk stops once it has seen ``DATA_LIMIT`` bytes' worth.
"""

from __future__ import annotations

from typing import Any

from synapse_steps.journal._codec import _DUMP, TAG, TAGGED_TYPES, Summary, encode_mapping

#: The most bytes of JSON a step's ``data`` may take to be journaled as values.
DATA_LIMIT = 4096
#: A summary names at most this many keys.
SUMMARY_KEYS = 20
#: The tag of a summary (``{"$t": "summary", "v": {key: description}}``).
SUMMARY = "summary"

_SCALARS = (str, int, float, bool, type(None))


def data_text(data: Any) -> str:
    """``data`` as the journal keeps it (JSON text): its values, or a summary of them."""
    return _kept(data)[1]


def journaled_data(data: Any) -> Any:
    """``data`` reduced to what the journal keeps, as a value: ``data`` itself when small and
    plain, else its ``Summary`` (``data_text`` of either gives the same text). A remote worker
    sends this instead of the data, so what crosses to the driver stays small."""
    return _kept(data)[0]


def _kept(data: Any) -> tuple[Any, str]:
    """What the journal keeps of ``data``, as a value and as its text."""
    if type(data) is dict and _small(data):
        text, problems = encode_mapping(data)
        if not problems and len(text) <= DATA_LIMIT:
            return data, text
    kept = data if type(data) is Summary else Summary(summary(data))
    # Written as the tag itself (encode_mapping would escape its "$t" key as a user's dict).
    return kept, _DUMP(_summary_value(kept))


def _summary_value(data: Any) -> dict[str, Any]:
    return {TAG: SUMMARY, "v": summary(data)}


__all__ = ["DATA_LIMIT", "Summary", "data_text", "describe", "is_summary", "journaled_data"]


def is_summary(value: Any) -> bool:
    """True for a step's ``data`` read back from the journal that it kept as a summary only."""
    return isinstance(value, Summary)


def summary(data: Any) -> dict[str, str]:
    """Each key of ``data`` (the first ``SUMMARY_KEYS``) with a short description of its value."""
    if type(data) is Summary:
        return dict(data)
    if not isinstance(data, dict):
        return {"": describe(data)}
    out: dict[str, str] = {}
    for index, (key, value) in enumerate(data.items()):
        if index == SUMMARY_KEYS:
            out["..."] = f"{len(data) - SUMMARY_KEYS} more keys"
            break
        out[str(key)[:100]] = describe(value)
    return out


def describe(value: Any) -> str:
    """``DataFrame (1000, 3)``, ``list of 500``, ``int``: what a value is, cheaply."""
    kind = type(value)
    name = kind.__name__
    if kind in (list, tuple, set, frozenset, dict, str, bytes, bytearray):
        return f"{name} of {len(value)}"
    # Looked up on the class first: an instance's __getattr__ (a DataFrame's looks for a
    # column of that name) is slow, and may do anything.
    if getattr(kind, "shape", None) is None:
        return name
    try:
        shape = value.shape
    except Exception:  # a property that raises: the type is enough
        return name
    if type(shape) is not tuple or not all(type(n) is int for n in shape):
        return name
    dtype = value.dtype if getattr(kind, "dtype", None) is not None else None
    return f"{name} {shape}" + ("" if dtype is None else f" {dtype}")


def _small(data: dict[str, Any]) -> bool:
    try:
        return _fits(data, DATA_LIMIT) >= 0
    except RecursionError:  # nested deeper than any small value is
        return False


def _fits(value: Any, budget: int) -> int:
    """A lower bound of what ``value`` takes as JSON, subtracted from ``budget``: -1 once it is
    spent. Cheap whatever the size: a container whose length alone exceeds the budget is not
    walked (each item takes at least two bytes: ``1,``), and scalars in a container are
    counted inline (a step's data is most often a flat dict). What passes is then encoded
    and measured (``data_text``); what is no plain value is left to the codec (it knows paths
    and dates).
    """
    kind = type(value)
    if kind is dict:
        if 6 * len(value) > budget:  # '"k":0,' at least
            return -1
        budget -= 2
        for key, item in value.items():
            if type(key) is not str:
                return -1
            budget -= len(key) + 4
            item_kind = type(item)
            if item_kind is str:
                budget -= len(item) + 2
            elif item_kind in _SCALARS:
                budget -= 1
            else:
                budget = _fits(item, budget)
            if budget < 0:
                return -1
        return budget
    if kind is list or kind is tuple:
        if 2 * len(value) > budget:
            return -1
        budget -= 2
        for item in value:
            item_kind = type(item)
            if item_kind is str:
                budget -= len(item) + 3
            elif item_kind in _SCALARS:
                budget -= 2
            else:
                budget = _fits(item, budget - 1)
            if budget < 0:
                return -1
        return budget
    if kind is str:
        return budget - len(value) - 2
    if kind in _SCALARS:
        return budget - 1
    # A path, a date ...: small; anything else (an array, a frame, a model) cannot be stored
    # as a value, and is summarised at once rather than tried.
    return budget - 8 if kind in TAGGED_TYPES else -1
