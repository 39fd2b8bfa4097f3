"""Type-preserving JSON for a step's ``data`` and ``rollback_data``.

Recovery happens in another process, so ``rollback_data`` must come back as the same types the
step stored (a ``Path`` stays a ``Path``, a tuple a tuple). Plain JSON values are stored as they
are; other supported values become a tagged object ``{"$t": tag, "v": ...}``. A user dict that
itself has a ``"$t"`` key is stored as ``{"$t": "dict", "v": [[key, value], ...]}`` so it is never
mistaken for a tag.

Supported (by exact type, so a subclass such as ``OrderedDict`` or an ``IntEnum`` is refused
rather than coming back as its base type): ``None``, ``bool``, ``int``, ``float`` (including
nan/inf), ``str``, ``list``, ``dict`` with ``str`` keys, ``tuple``, ``set``, ``frozenset``,
``bytes``, ``bytearray``, ``Path`` (comes back as ``Path``), ``PurePosixPath``,
``PureWindowsPath``, ``datetime`` / ``time`` (naive, ``timezone`` offsets or ``ZoneInfo``),
``date``, ``timedelta``, ``Decimal`` and ``UUID``. Anything else (open files, models, NumPy
arrays, lambdas ...) is *unstorable*: the caller learns which key, and the step is journaled as
not recoverable.

Text is written ASCII-only (``\\uXXXX`` escapes), so a lone surrogate (a file name's undecodable
byte, as ``os.listdir`` gives it) comes back as it was. One exception, JSON's own rule: a high
surrogate directly followed by a low one comes back as the one character they pair into.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from zoneinfo import ZoneInfo

from synapse_steps._text import safe_repr

TAG = "$t"

_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None)})


class Unstorable(Exception):
    """A value cannot be stored: ``what`` it is; ``where`` it is, as ``"['a'][2]"``.

    The path is collected on the way out (``inner`` prepends a level), so encoding a value
    that *can* be stored never formats one.
    """

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
        self.path: list[str] = []

    def inner(self, level: str) -> Unstorable:
        self.path.append(level)
        return self

    @property
    def where(self) -> str:
        return "".join(reversed(self.path))

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _tz_spec(tz: tzinfo | None) -> Any:
    if tz is None:
        return None
    if type(tz) is timezone:
        offset = tz.utcoffset(None)
        name = tz.tzname(None)
        # timezone(offset) names itself "UTC+hh:mm"; keep only names given explicitly.
        default_name = timezone(offset).tzname(None)
        return ["fixed", offset.days, offset.seconds, offset.microseconds] + (
            [name] if name != default_name else []
        )
    if type(tz) is ZoneInfo and tz.key is not None:
        return ["zone", tz.key]
    raise TypeError(f"a {type(tz).__name__} time zone")


def _tz_from_spec(spec: Any) -> tzinfo | None:
    if spec is None:
        return None
    if spec[0] == "zone":
        return ZoneInfo(spec[1])
    offset = timedelta(days=spec[1], seconds=spec[2], microseconds=spec[3])
    return timezone(offset, spec[4]) if len(spec) > 4 else timezone(offset)


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str:
                raise Unstorable(f"a dict key {key!r} that is not a str")
            # try costs nothing until something raises (zero-cost exceptions, 3.11+).
            try:
                out[key] = item if type(item) in _PLAIN else _encode(item)
            except Unstorable as exc:
                raise exc.inner(f"[{key!r}]") from None
        if TAG in out:
            return {TAG: "dict", "v": [[k, v] for k, v in out.items()]}
        return out
    if kind is list:
        return _items(value)
    encoder = _ENCODERS.get(kind)
    if encoder is None:
        raise Unstorable(f"a {kind.__module__}.{kind.__qualname__}")
    try:
        return encoder(value)
    except (TypeError, ValueError) as exc:
        raise Unstorable(str(exc)) from None


def _items(value: Any) -> list[Any]:
    out = []
    for i, item in enumerate(value):
        try:
            out.append(item if type(item) in _PLAIN else _encode(item))
        except Unstorable as exc:
            raise exc.inner(f"[{i}]") from None
    return out


def _datetime(value: datetime) -> Any:
    naive = value.replace(tzinfo=None, fold=0)
    return {TAG: "datetime", "v": naive.isoformat(), "tz": _tz_spec(value.tzinfo), "f": value.fold}


def _time(value: time) -> Any:
    naive = value.replace(tzinfo=None, fold=0)
    return {TAG: "time", "v": naive.isoformat(), "tz": _tz_spec(value.tzinfo), "f": value.fold}


_ENCODERS: dict[type, Callable[[Any], Any]] = {
    tuple: lambda v: {TAG: "tuple", "v": _items(v)},
    set: lambda v: {TAG: "set", "v": _items(v)},
    frozenset: lambda v: {TAG: "frozenset", "v": _items(v)},
    bytes: lambda v: {TAG: "bytes", "v": base64.b64encode(v).decode("ascii")},
    bytearray: lambda v: {TAG: "bytearray", "v": base64.b64encode(v).decode("ascii")},
    PurePosixPath: lambda v: {TAG: "pureposixpath", "v": str(v)},
    PureWindowsPath: lambda v: {TAG: "purewindowspath", "v": str(v)},
    datetime: _datetime,
    date: lambda v: {TAG: "date", "v": v.isoformat()},
    time: _time,
    timedelta: lambda v: {TAG: "timedelta", "v": [v.days, v.seconds, v.microseconds]},
    Decimal: lambda v: {TAG: "decimal", "v": str(v)},
    uuid.UUID: lambda v: {TAG: "uuid", "v": v.hex},
}
# PosixPath here, WindowsPath on Windows: comes back as a Path of the recovering platform.
_ENCODERS[type(Path())] = lambda v: {TAG: "path", "v": str(v)}
#: The types besides plain JSON values and containers that can be stored (by exact type).
TAGGED_TYPES: frozenset[type] = frozenset(_ENCODERS)


def _decode_datetime(d: dict[str, Any]) -> datetime:
    naive = datetime.fromisoformat(d["v"])
    return naive.replace(tzinfo=_tz_from_spec(d["tz"]), fold=d["f"])


def _decode_time(d: dict[str, Any]) -> time:
    naive = time.fromisoformat(d["v"])
    return naive.replace(tzinfo=_tz_from_spec(d["tz"]), fold=d["f"])


class Summary(dict[str, str]):
    """A step's ``data`` the journal kept as a summary of its types only (see ``step_data``);
    a user's own dict never decodes to one (its ``"$t"`` key is escaped)."""


_DECODERS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "dict": lambda d: {k: v for k, v in d["v"]},
    "tuple": lambda d: tuple(d["v"]),
    "set": lambda d: set(d["v"]),
    "frozenset": lambda d: frozenset(d["v"]),
    "bytes": lambda d: base64.b64decode(d["v"]),
    "bytearray": lambda d: bytearray(base64.b64decode(d["v"])),
    "path": lambda d: Path(d["v"]),
    "pureposixpath": lambda d: PurePosixPath(d["v"]),
    "purewindowspath": lambda d: PureWindowsPath(d["v"]),
    "datetime": _decode_datetime,
    "date": lambda d: date.fromisoformat(d["v"]),
    "time": _decode_time,
    "timedelta": lambda d: timedelta(days=d["v"][0], seconds=d["v"][1], microseconds=d["v"][2]),
    "decimal": lambda d: Decimal(d["v"]),
    "uuid": lambda d: uuid.UUID(hex=d["v"]),
    # Only in records (see encode_record): what could not be represented, as its repr.
    "repr": lambda d: d["v"],
    # Only as a step's data (step_data): large or not plain, kept as a summary of its types.
    "summary": lambda d: Summary(d["v"]),
}


def _object_hook(d: dict[str, Any]) -> Any:
    tag = d.get(TAG)
    # encode_mapping never writes an unknown tag; a record's own "$t" key stays a plain dict.
    decoder = _DECODERS.get(tag) if type(tag) is str else None
    return d if decoder is None else decoder(d)


def _dumper(default: Callable[[Any], Any] | None = None) -> Callable[[Any], str]:
    """A reusable ``json.dumps`` (same output) for one ``default``, without the circularity check.

    ``JSONEncoder.encode`` builds a new C encoder on every call (~2 us, as much as encoding a
    small dict); this builds it once. Without the check a cycle raises ``RecursionError``,
    which every caller handles; and no state survives a failed call (the check's ``markers``
    dict would keep the ids of the objects it was inside of).
    """
    reference = json.JSONEncoder(default=default, check_circular=False)
    # Not in the type stubs; None where the C accelerator is missing.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        return reference.encode
    encoder = make(
        None,
        reference.default,
        json.encoder.encode_basestring_ascii,
        None,
        reference.key_separator,
        reference.item_separator,
        False,
        False,
        True,
    )

    def dump(value: Any) -> str:
        if type(value) is str:  # the C encoder takes only containers and scalars other than str
            return reference.encode(value)
        return "".join(encoder(value, 0))

    return dump


# What _encode returns is a fresh acyclic tree, so the circularity check is not needed.
_DUMP = _dumper()


def encode_mapping(mapping: Any) -> tuple[str, list[str]]:
    """``mapping`` as JSON text, and where its unstorable values are (left out of the text).

    Each problem is ``"['key']...: what it is"``; every top-level key is tried, so one bad value
    does not hide another. A value that is not a dict (a step may return
    ``rollback_data=None``, a list, a path ...) is stored as it is, or, if it cannot be, as
    ``null`` with one problem ``": what it is"``.
    """
    if type(mapping) is dict and TAG not in mapping:
        for key, value in mapping.items():
            if type(key) is not str or type(value) not in _PLAIN:
                break
        else:  # only plain values (the common case): JSON as it is, without a tagged copy
            return _DUMP(mapping), []
    try:
        return _DUMP(_encode(mapping)), []
    except Unstorable as exc:
        if type(mapping) is not dict:
            return "null", [str(exc)]
    except RecursionError:
        if type(mapping) is not dict:
            return "null", [": nested too deeply"]
    # Something cannot be stored: find every such key, keep the others.
    stored: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in mapping.items():
        if type(key) is not str:
            problems.append(f"[{key!r}]: a key that is not a str")
            continue
        try:
            stored[key] = _encode(value)
        except Unstorable as exc:
            problems.append(str(exc.inner(f"[{key!r}]")))
        except RecursionError:
            problems.append(f"[{key!r}]: nested too deeply")
    if TAG in stored:
        return _DUMP({TAG: "dict", "v": [[k, v] for k, v in stored.items()]}), problems
    return _DUMP(stored), problems


def decode(text: str) -> Any:
    """The value ``encode_mapping`` (or ``encode_record``) stored as ``text``."""
    return json.loads(text, object_hook=_object_hook)


def _lenient(value: Any) -> Any:
    # json.dumps calls this for what it cannot encode itself; a record must never fail a run.
    try:
        return _encode(value)
    except (Unstorable, RecursionError):
        return {TAG: "repr", "v": safe_repr(value)}


# Without the circularity check: a cyclic value raises RecursionError, and encode_records falls
# back to one record at a time (a cyclic one is then kept as its repr).
_DUMP_RECORD = _dumper(_lenient)


def encode_records(records: list[dict[str, Any]]) -> str:
    """Lifecycle records as one JSON array; what JSON cannot hold is kept as its ``repr``.

    Records are the core's ``to_dict()`` output (JSON-able by contract); this only guards
    against a stray value (a record that still fails is kept as its type and ``repr``), it does
    not preserve tuple/set types inside records. Decode with ``decode``.
    """
    try:
        return _DUMP_RECORD(records)
    except (TypeError, ValueError, RecursionError):
        return "[" + ",".join(_encode_one(record) for record in records) + "]"


def _encode_one(record: dict[str, Any]) -> str:
    try:
        return _DUMP_RECORD(record)
    except (TypeError, ValueError, RecursionError):
        pass
    # A value JSON cannot take (nested too deeply, a cycle): the record keeps its fields, that
    # value becomes its repr, as any other odd value does (see _lenient).
    try:
        return _DUMP_RECORD(_salvaged(record, 3))
    except (TypeError, ValueError, RecursionError):
        kind = record.get("type")
        return json.dumps(
            {
                "type": kind if type(kind) is str else safe_repr(kind),
                "unstorable": safe_repr(record),
            }
        )


def _salvaged(value: Any, levels: int) -> Any:
    """``value`` with what JSON cannot encode replaced by its repr, looking ``levels`` dicts deep
    for it (a dict with keys that are not all str is left to fail: the record then goes whole)."""
    if type(value) is dict and levels > 0:
        return {key: _salvaged(item, levels - 1) for key, item in value.items()}
    try:
        _DUMP_RECORD(value)
    except (TypeError, ValueError, RecursionError):
        return {TAG: "repr", "v": safe_repr(value)}
    return value
