"""Run logs whose frames are whole (valid checksums) but whose values are impossible.

Something other than this package wrote them (a bug, a tool, a person): a start time of 1e300, a
tagged value holding garbage, a record that is not a record. Each one must come out as a
``JournalError`` naming the file, never as a bare builtin error, and the other runs of the
journal stay readable and recoverable. A fuzz test builds such logs at random.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synapse_steps import RuntimeContext
from synapse_steps.journal import (
    Journal,
    JournalError,
    abandon,
    recover,
    recover_steps,
    run_records,
    unfinished_runs,
)
from synapse_steps.journal._runlog import ENTRY, FINISH, ROLLBACK, RUN, frame, log_path
from synapse_steps.journal._store import store_for
from synapse_steps.steps import BaseStep, BaseStepContext, StepRegistry, StepResult


def _header(run_id: str, started_at: float = 1_700_000_000.0, **changes: Any) -> tuple[Any, ...]:
    fields = {"workflow": "wf", "steps": '["a", "b"]', "meta": "[{}]", "pid": 1, "host": "h"}
    fields.update(changes)
    return (
        RUN,
        run_id,
        fields["workflow"],
        fields["steps"],
        fields["meta"],
        started_at,
        fields["pid"],
        fields["host"],
    )


def _step(index: int, name: str, rollback_data: str = "{}", **changes: Any) -> tuple[Any, ...]:
    fields: dict[str, Any] = {
        "position": index,
        "success": 1,
        "unstorable": "",
        "completed_at": 1_700_000_001.0,
        "data": "{}",
        "records": None,
    }
    fields.update(changes)
    return (
        ENTRY,
        index,
        fields["position"],
        name,
        fields["success"],
        fields["unstorable"],
        fields["completed_at"],
        None,
        None,
        None,
        None,
        fields["data"],
        rollback_data,
        fields["records"],
    )


def _hostile(journal: Path, *ops: tuple[Any, ...], run_id: str | None = None) -> Path:
    """A log of whole frames holding ``ops`` (a header for ``run_id`` first, if not given)."""
    store_for(journal)  # the journal's SQLite file exists, as where a run was ever journaled
    run_id = run_id or uuid.uuid4().hex
    if not ops or ops[0][0] != RUN:
        ops = (_header(run_id), *ops)
    path = log_path(journal, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(frame(op) for op in ops))
    return path


def _good_dead_run(journal: Path) -> str:
    run = Journal(journal).start_run("good", ["a", "b"])
    run.step_completed(0, "a", {}, {"path": "a"})
    run.step_completed(1, "b", {}, {"path": "b"})
    run._finalizer()
    return run.run_id


class Undo(BaseStep[BaseStepContext]):
    progress_weight = 1.0

    def __init__(self, name: str, calls: list[str]) -> None:
        self._name, self.calls = name, calls

    @property
    def name(self) -> str:
        return self._name

    def execute(self, context: BaseStepContext) -> StepResult:
        return StepResult()

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        self.calls.append(self._name)


def _recover_good(run_id: str, journal: Path) -> list[str]:
    calls: list[str] = []
    registry = StepRegistry[BaseStepContext]()
    registry.register(Undo("a", calls))
    registry.register(Undo("b", calls))
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    recover(run_id, registry, context, path=journal)
    return calls


@pytest.mark.parametrize(
    "header",
    [
        {"started_at": 1e300},
        {"started_at": float("nan")},
        {"started_at": float("-inf")},
        {"steps": '{"a": 1}'},
        {"steps": "[1, 2]"},
        {"meta": "[5]"},
        {"meta": '[{"$t": "decimal", "v": "garbage"}]'},
    ],
    ids=repr,
)
def test_an_impossible_header_is_named_and_the_other_runs_stay_recoverable(
    tmp_path: Path, header: dict[str, Any]
) -> None:
    journal = tmp_path / "j.sqlite3"
    good = _good_dead_run(journal)
    bad_id = uuid.uuid4().hex
    bad = _hostile(journal, _header(bad_id, **header), _step(0, "a"), run_id=bad_id)
    with pytest.raises(JournalError, match=rf"{bad}.*cannot be read.*Move it out"):
        unfinished_runs(journal)
    with pytest.raises(JournalError, match=rf"{bad}.*cannot be read"):
        recover_steps(bad_id, lambda *_: None, journal)
    # The good run is read and recovered as if the bad log were not there.
    assert [r["type"] for r in run_records(good, journal)] == []
    assert _recover_good(good, journal) == ["b", "a"]
    # Once the bad log is moved away, the listing works again; it was never touched.
    content = bad.read_bytes()
    bad.rename(tmp_path / "moved.log")
    assert unfinished_runs(journal) == []
    assert (tmp_path / "moved.log").read_bytes() == content


@pytest.mark.parametrize(
    "entry",
    [
        _step(0, "a", rollback_data='{"p": {"$t": "decimal", "v": "garbage"}}'),
        _step(0, "a", rollback_data='{"p": {"$t": "datetime", "v": "yesterday"}}'),
        _step(0, "a", rollback_data='{"p": {"$t": "bytes", "v": 5}}'),
        _step(0, "a", rollback_data='{"p": {"$t": "dict", "v": [[1]]}}'),
        _step(0, "a", data='{"$t": "time", "v": "00:00", "tz": ["zone", "No/Such"], "f": 0}'),
        _step(0, "a", rollback_data="[" * 100_000),
        _step(0, "a", completed_at=1e300),
        _step(0, "a", unstorable="not json"),
        _step(0, "a", unstorable="[1]"),
    ],
    ids=[
        "decimal",
        "datetime",
        "bytes",
        "dict",
        "time-zone",
        "nested",
        "completed_at",
        "unstorable-text",
        "unstorable-list",
    ],
)
def test_an_impossible_step_is_named_and_nothing_is_rolled_back(
    tmp_path: Path, entry: tuple[Any, ...]
) -> None:
    journal = tmp_path / "j.sqlite3"
    run_id = uuid.uuid4().hex
    # The impossible step is the older one: a recovery would undo "b" before reaching it.
    bad = _hostile(journal, entry, _step(1, "b", rollback_data='{"path": "b"}'), run_id=run_id)
    calls: list[str] = []
    with pytest.raises(JournalError, match=rf"{bad}.*cannot be read"):
        recover_steps(run_id, lambda name, *_: calls.append(name), journal)
    assert calls == []  # checked before anything is undone: never half a recovery
    abandon(run_id, journal)  # the way out the error names
    assert not bad.exists()


@pytest.mark.parametrize(
    "records",
    [
        "[5]",
        '{"type": "Logged"}',
        '[{"type": "RunStarted", "plan_rows": 5}]',
        '[{"type": "MetricsBatch", "count": 2}]',
        '[{"type": "MetricsBatch", "count": 1, "names": ["x"], "kinds": "z", "times": "AA==",'
        ' "columns": ["AA=="], "category": "c"}]',
        '[{"type": "Logged", "t": {"$t": "uuid", "v": "not hex"}}]',
    ],
)
def test_malformed_records_are_named_for_a_live_log_and_for_a_stored_run(
    tmp_path: Path, records: str
) -> None:
    journal = tmp_path / "j.sqlite3"
    run_id = uuid.uuid4().hex
    ops = (_step(0, "a", records=records),)
    bad = _hostile(journal, *ops, run_id=run_id)
    with pytest.raises(JournalError, match=rf"{bad}.*cannot be read"):
        run_records(run_id, journal)
    # Ended: the next reader keeps it in the store, where it is just as unreadable.
    with open(bad, "ab") as fh:
        fh.write(frame((FINISH, "failed", 1_700_000_002.0)))
    assert unfinished_runs(journal) == []
    assert not bad.exists()
    with pytest.raises(JournalError, match=rf"run {run_id!r} in {journal}.*cannot be read"):
        run_records(run_id, journal)


# -- fuzz: whole frames, arbitrary fields ------------------------------------------------------

_TAGS = st.sampled_from(
    [
        "dict",
        "tuple",
        "set",
        "frozenset",
        "bytes",
        "bytearray",
        "path",
        "pureposixpath",
        "purewindowspath",
        "datetime",
        "date",
        "time",
        "timedelta",
        "decimal",
        "uuid",
        "repr",
    ]
)
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), _TAGS
)
_JSON = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=6), inner, max_size=4),
        st.fixed_dictionaries({"$t": _TAGS, "v": inner}),
        st.fixed_dictionaries({"$t": _TAGS, "v": inner, "tz": inner, "f": inner}),
    ),
    max_leaves=12,
)
_RECORD_TYPES = st.sampled_from(
    ["RunStarted", "MetricsBatch", "Logged", "StepStarted", "MetricsReported", "x"]
)
_RECORD = st.fixed_dictionaries(
    {"type": _RECORD_TYPES},
    optional={
        "plan_rows": _JSON,
        "count": st.integers(-2, 3),
        "names": _JSON,
        "kinds": st.text("dqz", max_size=3),
        "times": st.sampled_from(["", "AA==", "AAAAAAAAAAA=", "!"]),
        "columns": _JSON,
        "category": _JSON,
        "data": _JSON,
    },
)


def _json_text(values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    # allow_nan: JSON's NaN / Infinity extensions are what json.dumps writes, and reads back.
    return st.one_of(values.map(json.dumps), st.text(max_size=16))


_TEXT = _json_text(_JSON)
_FLOAT = st.floats()
_INT64 = st.integers(-(2**63), 2**63 - 1)
_OPT = st.one_of(st.none(), _TEXT)
_ENTRIES = st.tuples(
    st.just(ENTRY),
    st.integers(0, 5),
    st.one_of(st.none(), _INT64),  # position
    st.one_of(st.none(), st.text(max_size=8)),  # name
    st.one_of(st.none(), _INT64),  # success
    st.one_of(st.none(), st.just(""), _json_text(st.lists(st.text(max_size=8)))),  # unstorable
    st.one_of(st.none(), _FLOAT),  # completed_at
    st.one_of(st.none(), st.integers(0, 2**31)),  # started_index
    st.one_of(st.none(), _FLOAT),
    st.one_of(st.none(), _FLOAT),
    st.one_of(st.none(), _FLOAT),
    _OPT,  # data
    _OPT,  # rollback_data
    st.one_of(st.none(), _json_text(st.lists(st.one_of(_RECORD, _JSON), max_size=3))),
)
_MARKS = st.tuples(
    st.just(ROLLBACK),
    st.integers(0, 5),
    st.sampled_from(["started", "done"]),
    st.one_of(st.none(), st.text(max_size=8)),
)


@settings(
    max_examples=int(os.environ.get("JOURNAL_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    started_at=_FLOAT,
    pid=_INT64,
    steps=_json_text(st.one_of(st.lists(st.text(max_size=6), max_size=3), _JSON)),
    meta=_json_text(st.one_of(st.lists(_JSON, max_size=2), _JSON)),
    body=st.lists(st.one_of(_ENTRIES, _MARKS), max_size=6),
    ended=st.one_of(st.none(), st.tuples(st.text(max_size=8), _FLOAT)),
)
def test_only_journal_errors_come_out_of_any_log_of_whole_frames(
    tmp_path_factory: Any,
    started_at: float,
    pid: int,
    steps: str,
    meta: str,
    body: list[tuple[Any, ...]],
    ended: tuple[str, float] | None,
) -> None:
    journal = tmp_path_factory.mktemp("fuzz") / "j.sqlite3"
    run_id = uuid.uuid4().hex
    header = _header(run_id, started_at, steps=steps, meta=meta, pid=pid)
    ops = [header, *body] + ([] if ended is None else [(FINISH, *ended)])
    _hostile(journal, *ops, run_id=run_id)
    calls: list[str] = []

    def rollback(name: str, *_: Any) -> None:
        calls.append(name)

    def only_journal_errors(action: Any) -> None:
        with contextlib.suppress(JournalError):
            action()

    only_journal_errors(lambda: unfinished_runs(journal))
    only_journal_errors(lambda: run_records(run_id, journal))
    only_journal_errors(lambda: recover_steps(run_id, rollback, journal))
    called = len(calls)
    # Whatever the log held, no rollback is called a second time.
    only_journal_errors(lambda: recover_steps(run_id, rollback, journal))
    assert len(calls) == called
    only_journal_errors(lambda: unfinished_runs(journal))
    only_journal_errors(lambda: run_records(run_id, journal))


def test_every_unreadable_log_is_named_in_one_error(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    run_id = uuid.uuid4().hex
    first = _hostile(journal, _header(run_id, 1e300), run_id=run_id)
    second = _hostile(journal, _step(0, "a", completed_at=float("nan")))
    with pytest.raises(JournalError) as caught:
        unfinished_runs(journal)
    message = str(caught.value)
    assert str(first) in message
    assert str(second) in message
    assert "OverflowError" in message
    assert "Move them out" in message
