"""Text for any value or exception, that never raises: for what is stored (the run journal) or
shown (the console) of values a step hands over, which may be anything.

``repr`` can raise (a broken ``__repr__``, a list nested a thousand deep, an int past Python's
4,300-digit limit for text) or run to megabytes; ``str`` of an exception can raise too.
"""

from __future__ import annotations

import reprlib
from typing import Any

#: ``safe_repr`` gives at most this many characters.
REPR_LIMIT = 10_000


def _int_text(value: int) -> str:
    # bit_length * log10(2): the number of decimal digits, give or take one.
    return f"<int of about {int(value.bit_length() * 0.30103) + 1} digits>"


class _Bounded(reprlib.Repr):
    """``reprlib`` with sizes for a record: it never recurses past ``maxlevel`` and calls
    ``repr`` only on leaves (catching what an instance's raises); an int too long for text is
    summarised instead of raising."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 12
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = self.maxfrozenset = 50
        self.maxdeque = self.maxarray = 50
        self.maxstring = self.maxother = self.maxlong = 500

    def repr_int(self, x: int, level: int) -> str:
        try:
            return super().repr_int(x, level)
        except ValueError:
            return _int_text(x)

    def repr_instance(self, x: Any, level: int) -> str:
        try:
            text = repr(x)
        except Exception as exc:
            return _repr_failed(x, exc)
        if len(text) <= self.maxother:
            return text
        head = max(0, (self.maxother - 3) // 2)
        tail = max(0, self.maxother - 3 - head)
        return f"{text[:head]}...{text[len(text) - tail :]}"


def _repr_failed(value: Any, exc: BaseException) -> str:
    return f"<{type(value).__qualname__} object: repr() raised {error_text(exc)}>"


_BOUNDED = _Bounded()
_CONTAINERS = (list, tuple, dict, set, frozenset)


def safe_repr(value: Any) -> str:
    """``repr(value)``, cut to ``REPR_LIMIT`` characters; never raises.

    A container whose repr raises or is too long is shown bounded (``reprlib``); an int too
    long for text by its size; any other value whose repr raises, as its type and the error.
    """
    try:
        text = repr(value)
    except Exception as exc:
        if isinstance(value, int) and isinstance(exc, ValueError):
            return _int_text(value)
        if not isinstance(value, _CONTAINERS):
            return _repr_failed(value, exc)
        text = _bounded_repr(value)
    else:
        if len(text) > REPR_LIMIT:
            text = _bounded_repr(value)
    if len(text) > REPR_LIMIT:
        text = f"{text[:REPR_LIMIT]}... ({type(value).__qualname__}, cut)"
    return text


def _bounded_repr(value: Any) -> str:
    try:
        return _BOUNDED.repr(value)
    except Exception as exc:
        return _repr_failed(value, exc)


def safe_str(value: Any) -> str:
    """``str(value)``, or ``safe_repr(value)`` when that raises; never raises."""
    try:
        text = str(value)
    except Exception:
        return safe_repr(value)
    return text if len(text) <= REPR_LIMIT else safe_repr(value)


def error_text(exc: BaseException) -> str:
    """``"<type>: <message>"`` for an exception; never raises, whatever its ``str`` does."""
    try:
        message = str(exc)
    except Exception as failure:
        try:
            why = f"{type(failure).__name__}: {failure}"
        except Exception:
            why = type(failure).__name__
        message = f"<str() raised {why}>"
    return f"{type(exc).__name__}: {message}"
