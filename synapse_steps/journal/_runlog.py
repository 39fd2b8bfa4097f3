"""A run's log: a run lives in its own append-only file until it ends; then the store keeps it.

``<journal>-runs/<run_id>.log`` holds, as frames appended one ``os.write`` each (descriptor opened
with ``O_APPEND``): the run's header (``RUN``: id, workflow, planned steps, meta, start, pid,
host), then each entry (``ENTRY``: a completed step, or a batch of records), rollback mark
(``ROLLBACK``: written by the run itself, or by a recovery) and finally its end (``FINISH``:
status and time). Once ``write`` returns the frame is in the kernel's page cache, so it survives
the death of the process at any instant (the same guarantee as a WAL commit with
``synchronous=NORMAL``; power loss is out of scope). A commit to SQLite costs ~8 system calls
(file locks on the WAL index, the frame header, the page) and B-tree work: 25-35 us on the 2-core
test VM inside a run, against ~5 us for this ``write``.

The same file carries the run's lock (``_lock``): its owner holds it while the run is open (a
recovery, while it works). A run that ended is stored whole, its log as one value, in the
store's ``runs`` table (``_store.store_run``), and the file is removed; a reader that finds an
ended log whose owner died before storing it stores it.

A frame is ``<payload length: u32 LE><crc32: u32 LE><payload>``; payloads are packed with
``struct`` (numbers as int64 / float64, exact; each text as UTF-8 after its length). A text may
hold lone surrogates (``os.listdir`` decodes a file name's undecodable byte to one, and an
exception message built from such a name carries it): they are written in their 3-byte form
(the ``surrogatepass`` error handler), so every ``str`` comes back exactly as it was given and
nothing a step is named or raises can make a frame fail. As JSON a
frame cost ~3x more (the data texts escaped a second time, floats turned into text). A frame that
is incomplete or damaged (a kill in the middle of a large ``write``, a truncated file) ends the
log: it and everything after it count as never written (and a recovery cuts it off before it
appends its own marks).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Ops are tuples (of plain values, so the garbage collector does not track them):
#: ``(RUN, run_id, workflow, steps JSON, meta JSON, started_at, pid, host)``,
#: ``(ENTRY, index, *the other ENTRY_COLUMNS)``, ``(ROLLBACK, entry index, "started" or "done",
#: error or None)`` and ``(FINISH, status, finished_at)``.
Op = tuple[Any, ...]
RUN = "run"
ENTRY = "entry"
ROLLBACK = "rollback"
FINISH = "finish"
#: What an ENTRY op carries, in order (``id``: the entry's index in the run).
ENTRY_COLUMNS = (
    "id",
    "position",
    "name",
    "success",
    "unstorable",
    "completed_at",
    "started_index",
    "started_time",
    "duration",
    "finished_time",
    "data",
    "rollback_data",
    "records",
)
_FRAME = struct.Struct("<II")
# An entry's payload: kind, the NULL mask (bit i: ENTRY_COLUMNS[1 + i] is not NULL), index,
# position, success, completed_at, started_index, started_time, duration, finished_time (0 where
# NULL), the byte lengths of name, unstorable, data, rollback_data and records, then those texts.
_ENTRY = struct.Struct("<BHqqqdqdddIIIII")
# A rollback mark's: kind, entry index, state (0 started, 1 done), error present, its length; text.
_ROLLBACK = struct.Struct("<BqBBI")
# The header's: kind, started_at, pid, lengths of run_id, workflow, steps, meta, host; texts.
_RUN = struct.Struct("<BdqIIIII")
# The end's: kind, finished_at, length of status; text.
_FINISH = struct.Struct("<BdI")
_KINDS = {1: ENTRY, 2: ROLLBACK, 3: RUN, 4: FINISH}
_STATES = ("started", "done")


def encode_text(text: str) -> bytes:
    """``text`` as a frame stores it: UTF-8, lone surrogates kept (see the module)."""
    return text.encode("utf-8", "surrogatepass")


def decode_text(data: bytes) -> str:
    """The text ``encode_text`` stored (raises ``UnicodeDecodeError`` for other bytes)."""
    return data.decode("utf-8", "surrogatepass")


def log_dir(journal: Path) -> Path:
    return journal.with_name(journal.name + "-runs")


def log_path(journal: Path, run_id: str) -> Path:
    return log_dir(journal) / f"{run_id}.log"


# -- frames ------------------------------------------------------------------------------------


def frame(op: Op) -> bytes:
    """One op as a frame (raises ``struct.error`` or ``AttributeError`` for a wrong value)."""
    kind = op[0]
    if kind == ENTRY:
        payload = _entry_payload(op)
    elif kind == ROLLBACK:
        error = op[3]
        text = b"" if error is None else encode_text(error)
        payload = _ROLLBACK.pack(2, op[1], _STATES.index(op[2]), error is not None, len(text))
        payload += text
    elif kind == RUN:
        texts = [encode_text(op[i]) for i in (1, 2, 3, 4, 7)]
        payload = _RUN.pack(3, op[5], op[6], *[len(t) for t in texts]) + b"".join(texts)
    else:
        status = encode_text(op[1])
        payload = _FINISH.pack(4, op[2], len(status)) + status
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


# Where an ENTRY op's columns after its index (``op[2:]``) go in ``_ENTRY``: the numbers, in
# the struct's order, then the texts, whose lengths follow the numbers.
# position, success, completed_at, started_index, started_time, duration, finished_time:
_NUMBER_COLUMNS = (0, 2, 4, 5, 6, 7, 8)
# name, unstorable, data, rollback_data, records:
_TEXT_COLUMNS = (1, 3, 9, 10, 11)


def _entry_payload(op: Op) -> bytes:
    values = op[2:]
    mask = 0
    for bit, value in enumerate(values):
        if value is not None:
            mask |= 1 << bit
    # Not "x or 0": that would turn -0.0 into 0.0 (NULL is in the mask).
    numbers = [0 if values[i] is None else values[i] for i in _NUMBER_COLUMNS]
    texts = [b"" if values[i] is None else encode_text(values[i]) for i in _TEXT_COLUMNS]
    return _ENTRY.pack(1, mask, op[1], *numbers, *[len(text) for text in texts]) + b"".join(texts)


# NULL-mask bits (see _ENTRY) a completed step's entry always sets (position, name, success,
# unstorable, completed_at, data, rollback_data), and those of its optional columns.
_STEP_BITS = 0b0110_0001_1111
_STARTED_BITS = 0b0000_0110_0000
_FINISHED_BITS = 0b0001_1000_0000
_RECORDS_BIT = 0b1000_0000_0000


def step_frame(
    index: int,
    position: int,
    name: str,
    success: int,
    unstorable: str,
    completed_at: float,
    started: tuple[int, float] | None,
    finished: tuple[float, float] | None,
    data: str,
    rollback_data: str,
    records: str | None,
) -> bytes:
    """``frame`` of a completed step's entry, written out: the per-step path (~2x faster than
    building the op and walking it). ``started``: (started_index, started_time); ``finished``:
    (duration, finished_time)."""
    mask = _STEP_BITS
    if started is None:
        started = (0, 0.0)
    else:
        mask |= _STARTED_BITS
    if finished is None:
        finished = (0.0, 0.0)
    else:
        mask |= _FINISHED_BITS
    if records is None:
        texts = b""
    else:
        mask |= _RECORDS_BIT
        texts = records.encode()
    # The JSON texts (``_codec``) are ASCII; only a step's name may hold a lone surrogate.
    name_bytes, unstorable_bytes = encode_text(name), unstorable.encode()
    data_bytes, rollback_bytes = data.encode(), rollback_data.encode()
    payload = (
        _ENTRY.pack(
            1,
            mask,
            index,
            position,
            success,
            completed_at,
            *started,
            *finished,
            len(name_bytes),
            len(unstorable_bytes),
            len(data_bytes),
            len(rollback_bytes),
            len(texts),
        )
        + name_bytes
        + unstorable_bytes
        + data_bytes
        + rollback_bytes
        + texts
    )
    return _FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def _texts(payload: bytes, at: int, sizes: Iterable[int]) -> list[str] | None:
    """The texts of the given byte sizes from ``at``, if they fill the payload exactly."""
    texts = []
    for size in sizes:
        texts.append(decode_text(payload[at : at + size]))
        at += size
    return texts if at == len(payload) else None


def _op(payload: bytes) -> Op | None:
    """The op a payload holds, or None if it is not one (damaged: the log ends before it)."""
    try:
        kind = _KINDS.get(payload[0]) if payload else None
        if kind == ENTRY:
            return _entry_op(payload)
        if kind == ROLLBACK:
            _kind, index, state, has_error, size = _ROLLBACK.unpack_from(payload)
            texts = _texts(payload, _ROLLBACK.size, [size])
            if texts is None or state > 1:
                return None
            return (ROLLBACK, index, _STATES[state], texts[0] if has_error else None)
        if kind == RUN:
            _kind, started_at, pid, *sizes = _RUN.unpack_from(payload)
            texts = _texts(payload, _RUN.size, sizes)
            if texts is None:
                return None
            run_id, workflow, steps, meta, host = texts
            return (RUN, run_id, workflow, steps, meta, started_at, pid, host)
        if kind == FINISH:
            _kind, finished_at, size = _FINISH.unpack_from(payload)
            texts = _texts(payload, _FINISH.size, [size])
            return None if texts is None else (FINISH, texts[0], finished_at)
    except (struct.error, UnicodeDecodeError):
        pass
    return None


def _entry_op(payload: bytes) -> Op | None:
    _kind, mask, index, *fields = _ENTRY.unpack_from(payload)
    numbers, sizes = fields[: len(_NUMBER_COLUMNS)], fields[len(_NUMBER_COLUMNS) :]
    texts = _texts(payload, _ENTRY.size, sizes)
    if texts is None:
        return None
    values: list[Any] = [None] * (len(_NUMBER_COLUMNS) + len(_TEXT_COLUMNS))
    for column, value in zip(_NUMBER_COLUMNS + _TEXT_COLUMNS, numbers + texts, strict=True):
        if mask >> column & 1:
            values[column] = value
    return (ENTRY, index, *values)


def read_ops(path: Path) -> tuple[list[tuple[int, Op]], int]:
    """The ops of the log at ``path`` (none if it is missing); see ``parse_ops``."""
    try:
        with open(path, "rb") as fh:
            return parse_ops(fh.read())
    except FileNotFoundError:
        return [], 0


def parse_ops(data: bytes) -> tuple[list[tuple[int, Op]], int]:
    """The ops in ``data`` with the byte offset each starts at, and where the last whole frame
    ends. Reading stops at the first frame that is cut short or whose checksum or content is
    wrong (see the module): what follows it is not the run's."""
    ops: list[tuple[int, Op]] = []
    at = 0
    while at + _FRAME.size <= len(data):
        size, crc = _FRAME.unpack_from(data, at)
        end = at + _FRAME.size + size
        payload = data[at + _FRAME.size : end]
        if len(payload) != size or zlib.crc32(payload) != crc:
            break
        op = _op(payload)
        if op is None:
            break
        ops.append((at, op))
        at = end
    return ops, at


@dataclass
class RunLog:
    """What one run's log holds, as read."""

    run_id: str
    #: The RUN op (None: no valid header; a run killed while it was being started).
    header: Op | None
    #: ENTRY and ROLLBACK ops, in order.
    ops: list[Op] = field(default_factory=list)
    #: The FINISH op, once the run has ended.
    finish: Op | None = None
    #: Where the last whole frame ends (a recovery appends from there).
    size: int = 0

    @property
    def workflow(self) -> str:
        return "" if self.header is None else str(self.header[2])

    def entries(self) -> list[dict[str, Any]]:
        """The run's entries, oldest first, as columns by name (``ENTRY_COLUMNS``) with their
        rollback state: ``rollback`` (None, "started" or "done") and ``rollback_error``."""
        entries: dict[int, dict[str, Any]] = {}
        for op in self.ops:
            if op[0] == ENTRY:
                entries[op[1]] = {
                    **dict(zip(ENTRY_COLUMNS, op[1:], strict=True)),
                    "rollback": None,
                    "rollback_error": None,
                }
                continue
            entry = entries.get(op[1])
            if entry is None:
                continue
            if op[2] == "started":
                entry["rollback"] = "started"
            else:
                entry["rollback"], entry["rollback_error"] = "done", op[3]
        return [entries[index] for index in sorted(entries)]


def read_log(path: Path) -> RunLog:
    """Read a run's log file (an empty log, with no header, if the file is missing)."""
    try:
        with open(path, "rb") as fh:
            return parse_log(path.stem, fh.read())
    except FileNotFoundError:
        return RunLog(path.stem, None)


def parse_log(run_id: str, data: bytes) -> RunLog:
    """The log of run ``run_id`` held in ``data`` (a file's content, or the store's copy)."""
    ops, end = parse_ops(data)
    log = RunLog(run_id, None)
    if not ops or ops[0][1][0] != RUN or ops[0][1][1] != run_id:
        return log
    log.header = ops[0][1]
    log.size = end
    for index in range(1, len(ops)):
        at, op = ops[index]
        if op[0] == RUN:
            log.size = at  # a second header: not a log this package wrote, it ends here
            break
        if op[0] == FINISH:
            log.finish = op
            log.size = ops[index + 1][0] if index + 1 < len(ops) else end
            break
        log.ops.append(op)
    return log


def append(fd: int, data: bytes) -> None:
    """Write ``data`` at the end of the log open as ``fd`` (``O_APPEND``), all of it."""
    written = os.write(fd, data)
    while written < len(data):  # a regular file takes it at once; a signal could cut it short
        written += os.write(fd, data[written:])
