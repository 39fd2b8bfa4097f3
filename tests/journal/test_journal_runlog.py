"""The run's log (``_runlog``): frames, cut and hostile files, the fold into the store, the schema
migration, and the records a journaled orchestrator run gives back."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import stored
from hypothesis import given, settings
from hypothesis import strategies as st

import synapse_steps.journal._run as run_module
from synapse_steps import RuntimeContext
from synapse_steps.events import HOOK_NAMES, ProgressReported, RunProgress, to_dict
from synapse_steps.journal import (
    Journal,
    JournalError,
    abandon,
    recover_steps,
    run_records,
    unfinished_runs,
)
from synapse_steps.journal._runlog import (
    ENTRY,
    ENTRY_COLUMNS,
    FINISH,
    ROLLBACK,
    RUN,
    frame,
    log_path,
    read_log,
    read_ops,
    step_frame,
)
from synapse_steps.journal._store import SCHEMA_VERSION, store_for
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

_text = st.one_of(st.none(), st.text(max_size=40))
_int = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_float = st.one_of(st.none(), st.floats(allow_nan=False))
_entries = st.tuples(
    st.just(ENTRY),
    _int,
    st.one_of(st.none(), _int),  # position
    _text,  # name
    st.one_of(st.none(), st.integers(0, 1)),  # success
    _text,  # unstorable
    _float,  # completed_at
    st.one_of(st.none(), st.integers(0, 2**31)),  # started_index
    _float,
    _float,
    _float,
    _text,  # data
    _text,  # rollback_data
    _text,  # records
)
_marks = st.tuples(st.just(ROLLBACK), _int, st.sampled_from(["started", "done"]), _text)
_headers = st.tuples(
    st.just(RUN), st.text(), st.text(), st.text(), st.text(), st.floats(), _int, st.text()
)
_ends = st.tuples(st.just(FINISH), st.text(), st.floats())
_ops = st.lists(st.one_of(_entries, _marks, _headers, _ends), max_size=8)


def _same(a: list[Any], b: list[Any]) -> bool:
    """Equal, nan included (a float column may hold nan)."""
    return repr(a) == repr(b)


def _write(path: Path, ops: list[tuple[Any, ...]]) -> bytes:
    data = b"".join(frame(op) for op in ops)
    path.write_bytes(data)
    return data


@settings(max_examples=200, deadline=None)
@given(ops=_ops)
def test_ops_come_back_exactly_from_their_frames(tmp_path_factory: Any, ops: Any) -> None:
    path = tmp_path_factory.mktemp("log") / "run.log"
    data = _write(path, ops)
    read, end = read_ops(path)
    assert _same([op for _at, op in read], ops)
    assert end == len(data)
    assert [at for at, _op in read] == [
        sum(len(frame(o)) for o in ops[:i]) for i in range(len(ops))
    ]
    assert all(len(op) == 1 + len(ENTRY_COLUMNS) for op in ops if op[0] == ENTRY)


@settings(max_examples=200, deadline=None)
@given(
    index=_int,
    position=_int,
    name=st.text(),
    success=st.integers(0, 1),
    unstorable=st.text(),
    completed_at=st.floats(allow_nan=False),
    started=st.one_of(st.none(), st.tuples(st.integers(0, 2**31), st.floats(allow_nan=False))),
    finished=st.one_of(st.none(), st.tuples(st.floats(allow_nan=False), st.floats())),
    texts=st.tuples(st.text(), st.text(), st.one_of(st.none(), st.text())),
)
def test_a_step_s_frame_written_out_is_the_generic_one(
    index: int,
    position: int,
    name: str,
    success: int,
    unstorable: str,
    completed_at: float,
    started: Any,
    finished: Any,
    texts: Any,
) -> None:
    data, rollback_data, records = texts
    started_columns = (None, None) if started is None else started
    finished_columns = (None, None) if finished is None else finished
    op = (ENTRY, index, position, name, success, unstorable, completed_at)
    op += (*started_columns, *finished_columns, data, rollback_data, records)
    written = step_frame(
        index, position, name, success, unstorable, completed_at, started, finished, *texts
    )
    assert written == frame(op)


def test_a_log_cut_at_any_byte_gives_back_only_its_whole_frames(tmp_path: Path) -> None:
    ops = [
        (ENTRY, 7, 0, "a", 1, "", 1.5, 0, 2.5, 0.25, 2.75, '{"n":1}', '{"p":"x"}', None),
        (ROLLBACK, 7, "started", None),
        (ENTRY, 8, None, None, None, None, None, None, None, None, None, None, None, '[{"t":1}]'),
    ]
    sizes = [len(frame(op)) for op in ops]
    whole = _write(tmp_path / "full.log", ops)
    cut = tmp_path / "cut.log"
    for end in range(len(whole) + 1):
        cut.write_bytes(whole[:end])
        kept, size = read_ops(cut)
        complete = sum(1 for i in range(len(ops)) if sum(sizes[: i + 1]) <= end)
        assert [op for _at, op in kept] == ops[:complete]
        assert size == sum(sizes[:complete])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_damaged_log_is_read_up_to_its_first_bad_frame_and_never_raises(
    tmp_path_factory: Any, data: Any
) -> None:
    ops = data.draw(st.lists(st.one_of(_entries, _marks, _headers, _ends), min_size=1, max_size=5))
    path = tmp_path_factory.mktemp("log") / "run.log"
    whole = bytearray(_write(path, ops))
    at = data.draw(st.integers(0, len(whole) - 1))
    whole[at] ^= data.draw(st.integers(1, 255))  # one damaged byte
    whole += data.draw(st.binary(max_size=64))  # and garbage after it
    path.write_bytes(bytes(whole))
    kept = [op for _at, op in read_ops(path)[0]]
    assert _same(kept, ops[: len(kept)])
    # The damaged frame and everything after it are gone (a CRC-32 catches every 1-byte error).
    ends = [sum(len(frame(op)) for op in ops[: i + 1]) for i in range(len(ops))]
    assert len(kept) == sum(1 for end in ends if end <= at)


def test_hostile_logs_read_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    valid = frame((ROLLBACK, 1, "done", None))
    for content in (
        b"\xff\xff\xff\xff\x00\x00\x00\x00",  # a 4 GB frame announced, nothing there
        b"garbage that is not a log at all",
        valid[:8] + b"\x03" + valid[9:],  # an unknown kind (the CRC no longer matches either)
    ):
        path.write_bytes(content)
        assert read_ops(path) == ([], 0)
        assert read_log(path).header is None
    assert read_ops(tmp_path / "missing.log") == ([], 0)


def test_a_frame_with_a_valid_checksum_but_a_wrong_layout_ends_the_log(tmp_path: Path) -> None:
    import struct
    import zlib

    good = frame((ROLLBACK, 1, "done", None))
    for payload in (b"\x01short", b"\x02" + b"\x00" * 20, b"\x09anything"):
        bad = struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
        (tmp_path / "run.log").write_bytes(good + bad + good)
        assert read_ops(tmp_path / "run.log") == ([(0, (ROLLBACK, 1, "done", None))], len(good))


# -- the log's life: written as the run goes, kept by the store when it ends ----------------


def _in_store(path: Path) -> list[tuple[Any, ...]]:
    """(name, rollback state) of the steps of the runs the store keeps."""
    return [(e["name"], e["rollback"]) for e in stored.entries(path)]


def test_the_log_is_kept_by_the_store_and_removed_when_the_run_ends(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.start_run("wf", ["a", "b"])
    log = log_path(journal.path, run.run_id)
    run.step_completed(0, "a", {}, {"path": tmp_path / "a"})
    run.step_completed(1, "b", {}, {"path": tmp_path / "b"})
    run.rollback_started("b")
    run.step_rolled_back("b", "OSError: gone")
    assert stored.runs(journal.path) == []  # all in the log while the run is open
    written = log.read_bytes()
    assert [op[0] for _at, op in read_ops(log)[0]] == [RUN, ENTRY, ENTRY, ROLLBACK, ROLLBACK]
    run.finish("failed")
    # Ended once its end is in the log; the store keeps it from the next batch on.
    assert [op[0] for _at, op in read_ops(log)[0]][-1] == FINISH
    assert unfinished_runs(journal.path) == []  # a reader stores this process's ended runs
    assert not log.exists()
    assert _in_store(journal.path) == [("a", None), ("b", "done")]
    (kept,) = stored.logs(journal.path)
    assert kept.finish is not None
    assert kept.finish[1] == "failed"
    with sqlite3.connect(journal.path) as conn:
        (data,) = conn.execute("SELECT log FROM runs").fetchone()
    assert bytes(data).startswith(written)  # the log as written, its end after it


def test_a_run_the_store_cannot_take_stays_ended_in_its_log_for_the_next_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.start_run("wf", ["a"])
    run.step_completed(0, "a", {}, {})
    log = log_path(journal.path, run.run_id)

    def refuse(*_: Any) -> bool:
        raise JournalError("database is locked")

    monkeypatch.setattr(run_module, "store_run", refuse)
    run.finish("succeeded")
    with pytest.warns(RuntimeWarning, match="their logs in .* keep them"):
        run_module.keep_ended(store_for(journal.path))
    assert log.exists()
    assert stored.runs(journal.path) == []
    monkeypatch.undo()
    # Ended in its log: never offered for recovery; the next listing stores it.
    assert unfinished_runs(journal.path) == []
    assert not log.exists()
    assert stored.runs(journal.path) == [(run.run_id, "wf", "succeeded")]


@pytest.mark.parametrize("end", ["recover", "abandon"])
def test_a_dead_run_is_kept_by_the_store_once_recovered_or_abandoned(
    tmp_path: Path, end: str
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.start_run("wf", ["a", "b"])
    run.step_completed(0, "a", {"n": 1}, {"path": tmp_path / "a"})
    run.step_completed(1, "b", {"n": 2}, {"path": tmp_path / "b"})
    log = log_path(journal.path, run.run_id)
    run._finalizer()  # the process "dies": the lock goes, the log stays
    if end == "recover":
        calls: list[str] = []
        recover_steps(run.run_id, lambda name, *_: calls.append(name), journal.path)
        assert calls == ["b", "a"]
        assert _in_store(journal.path) == [("a", "done"), ("b", "done")]
        status = "recovered"
    else:
        abandon(run.run_id, journal.path)
        assert _in_store(journal.path) == [("a", None), ("b", None)]
        status = "abandoned"
    assert not log.exists()
    assert stored.runs(journal.path) == [(run.run_id, "wf", status)]
    assert unfinished_runs(journal.path) == []
    assert [r["type"] for r in run_records(run.run_id, journal.path)] == []


def test_a_recovery_appends_after_the_last_whole_frame_of_a_cut_log(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.start_run("wf", ["a", "b"])
    run.step_completed(0, "a", {}, {})
    run.step_completed(1, "b", {}, {})
    run._finalizer()
    log = log_path(journal.path, run.run_id)
    whole = log.stat().st_size
    with open(log, "ab") as fh:  # the start of a frame whose write the kill cut short
        fh.write(
            frame((ENTRY, 2, 2, "c", 1, "", 1.0, None, None, None, None, "{}", "{}", None))[:9]
        )
    calls: list[str] = []
    killed = ["b"]

    def rollback(name: str, *_: Any) -> None:
        calls.append(name)
        if killed and name == killed.pop():
            raise KeyboardInterrupt  # the recovery dies after b's "started" mark

    with pytest.raises(KeyboardInterrupt):
        recover_steps(run.run_id, rollback, journal.path)
    ops = [op for _at, op in read_ops(log)[0]]
    assert ops[-1] == (ROLLBACK, 1, "started", None)  # readable: the debris was cut off
    assert log.stat().st_size > whole
    recover_steps(run.run_id, rollback, journal.path)
    assert calls == ["b", "b", "a"]


# -- schema ------------------------------------------------------------------------------------

_V1_SCHEMA = """
CREATE TABLE runs (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, workflow TEXT NOT NULL,
    steps TEXT NOT NULL, meta TEXT NOT NULL, started_at REAL NOT NULL, pid INTEGER NOT NULL,
    host TEXT NOT NULL, status TEXT, finished_at REAL);
CREATE INDEX runs_unfinished ON runs(id) WHERE status IS NULL;
CREATE TABLE entries (id INTEGER PRIMARY KEY, position INTEGER, name TEXT, success INTEGER,
    unstorable TEXT, completed_at REAL, rollback TEXT, rollback_error TEXT,
    rollback_calls INTEGER NOT NULL DEFAULT 0, data TEXT, rollback_data TEXT, records TEXT);
PRAGMA user_version = 1;
"""


def test_a_version_1_journal_is_migrated_and_its_dead_run_still_recovered(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(_V1_SCHEMA)
        conn.execute(
            "INSERT INTO runs VALUES (1, 'old', 'wf', '[\"a\"]', '[{}]', 1.0, 1, 'h', NULL, NULL)"
        )
        # Version 1 kept a step's StepStarted / StepFinished in its records.
        records = (
            '[{"type":"StepStarted","position":0,"name":"a","time":1.0},'
            '{"type":"StepFinished","position":0,"name":"a","duration":0.5,"time":1.5}]'
        )
        conn.execute(
            "INSERT INTO entries (id, position, name, success, unstorable, completed_at, data, "
            "rollback_data, records) VALUES (?, 0, 'a', 1, '', 2.0, '{}', ?, ?)",
            (1 << 32, '{"path":{"$t":"path","v":"/x/a"}}', records),
        )
        # And a run that ended, with a step it rolled back itself.
        conn.execute(
            "INSERT INTO runs VALUES (2, 'done', 'wf', '[\"b\"]', '[{}]', 3.0, 1, 'h', "
            "'failed', 4.0)"
        )
        conn.execute(
            "INSERT INTO entries (id, position, name, success, unstorable, completed_at, data, "
            "rollback_data, records, rollback, rollback_error) "
            "VALUES (?, 0, 'b', 1, '', 3.5, '{}', '{}', NULL, 'done', 'OSError: x')",
            (2 << 32,),
        )
    (info,) = unfinished_runs(path)
    assert stored.runs(path) == [("done", "wf", "failed")]
    (ended,) = stored.logs(path)
    assert [(e["name"], e["rollback"], e["rollback_error"]) for e in ended.entries()] == [
        ("b", "done", "OSError: x")
    ]
    assert [s.name for s in info.completed_steps] == ["a"]
    assert [r["type"] for r in run_records("old", path)] == ["StepStarted", "StepFinished"]
    seen: list[Any] = []
    recover_steps("old", lambda name, data, rb: seen.append(rb["path"]), path)
    assert seen == [Path("/x/a")]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    # A new run journals into the migrated file as into a new one.
    run = Journal(path).start_run("wf", ["a"])
    run.step_started(0, "a", 3.0)
    run.step_completed(0, "a", {}, {}, finished=(0.25, 3.25))
    run.finish("succeeded")
    assert [(r["type"], r["time"]) for r in run_records(run.run_id, path)] == [
        ("StepStarted", 3.0),
        ("StepFinished", 3.25),
    ]


# -- what an orchestrator run gives back --------------------------------------------------------


class Tap:
    """Hears every record the runtime's store hands out, in order."""

    def __init__(self) -> None:
        self.records: list[Any] = []
        for hook in HOOK_NAMES.values():
            setattr(self, hook, self.records.append)


class Chatty(BaseStep[BaseStepContext]):
    progress_weight = 1.0

    def __init__(self, name: str, skip: bool = False, fail: bool = False) -> None:
        self._name, self.skip, self.fail = name, skip, fail

    @property
    def name(self) -> str:
        return self._name

    def can_skip(self, context: BaseStepContext) -> bool:
        return self.skip

    def execute(self, context: BaseStepContext) -> StepResult:
        context.log("begin", {"step": self._name})
        for i in range(5):
            context.set_progress(i + 1, 5, "items")
            context.set_metrics({"loss": 1 / (i + 1), "i": i}, "train")
        context.log("end", {"step": self._name, "nested": {"k": [1, 2.5, None]}})
        if self.fail:
            raise RuntimeError(f"{self._name} broke")
        return StepResult(data={"n": 1}, rollback_data={"path": f"/tmp/{self._name}"})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        context.log("undo", {"step": self._name})


@pytest.mark.parametrize("flush_every_record", [False, True])
def test_the_journal_gives_back_every_record_of_the_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, flush_every_record: bool
) -> None:
    if flush_every_record:  # each record is written on its own: StepStarted goes out as JSON
        monkeypatch.setattr(run_module, "FLUSH_SECONDS", 0.0)
    registry = StepRegistry[BaseStepContext]()
    registry.register(Chatty("a"))
    registry.register(Chatty("b", skip=True))
    registry.register(Chatty("c"))
    registry.register(Chatty("d", fail=True))
    tap = Tap()
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=[tap], display="off"))
    orchestrator = Orchestrator(registry, context, name="tapped", journal=tmp_path / "j.sqlite3")
    with pytest.raises(Exception, match="d broke"):
        orchestrator.execute()
    (run_id,) = orchestrator._journal_subscriber.journal_run_ids
    skipped = (ProgressReported, RunProgress)  # coalesced / derived: not journaled one by one
    heard = [to_dict(r) for r in tap.records if not isinstance(r, skipped)]
    journaled = [
        r for r in run_records(run_id, tmp_path / "j.sqlite3") if r["type"] != "ProgressReported"
    ]
    assert [r["type"] for r in journaled] == [r["type"] for r in heard]
    assert journaled == heard
    assert {r["type"] for r in heard} >= {
        "StepStarted",
        "StepSkipped",
        "StepFinished",
        "StepFailed",
        "StepRollbackStarted",
        "StepRolledBack",
        "MetricsReported",
        "Logged",
    }


# -- a full disk -----------------------------------------------------------------------------------


def _mount_tmpfs(mount_point: Path, size: str) -> bool:
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


class Big(BaseStep[BaseStepContext]):
    progress_weight = 1.0

    def __init__(self, name: str, size: int) -> None:
        self._name, self.size = name, size

    @property
    def name(self) -> str:
        return self._name

    def execute(self, context: BaseStepContext) -> StepResult:
        return StepResult(data={}, rollback_data={"blob": "x" * self.size})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        pass


@pytest.mark.skipif(sys.platform != "linux", reason="mounts a tmpfs (the tests run as root)")
def test_a_full_disk_mid_run_never_fails_it_nor_leaves_a_run_to_recover(tmp_path: Path) -> None:
    disk = tmp_path / "small"
    disk.mkdir()
    if not _mount_tmpfs(disk, "1m"):
        pytest.fail("mounting a tmpfs failed: these tests run as root (CI does)")
    try:
        registry = StepRegistry[BaseStepContext]()
        for i in range(8):
            registry.register(Big(f"s{i}", 200_000))  # the log fills the disk at the 5th
        context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
        orchestrator = Orchestrator(registry, context, name="big", journal=disk / "j.sqlite3")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert orchestrator.execute()["success"]
        about = [w for w in caught if "cannot be written" in str(w.message)]
        assert len(about) == 1, [str(w.message) for w in caught]
        assert "No space left on device" in str(about[0].message)
        # Never offered for recovery: the journal said it could not follow the run.
        assert unfinished_runs(disk / "j.sqlite3") == []
        assert list((disk / "j.sqlite3-runs").iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_ended_runs_are_stored_in_batches_and_at_exit(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    store = store_for(journal.path)
    for i in range(run_module.KEEP_BATCH - 1):
        run = journal.start_run("wf", ["a"])
        run.step_completed(0, "a", {}, {"i": i})
        run.finish("succeeded")
    # Not yet stored: their logs hold them, locked (so no other process stores them too) ...
    assert len(store.ended) == run_module.KEEP_BATCH - 1
    with sqlite3.connect(journal.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (0,)
    # ... and ended: nobody is offered them for recovery.
    listed = subprocess.run(
        [
            sys.executable,
            "-c",
            f"from synapse_steps.journal import unfinished_runs as u; "
            f"print(len(u({str(journal.path)!r})))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed.stdout.strip() == "0"
    run = journal.start_run("wf", ["a"])
    run.finish("succeeded")  # the batch is full: one transaction stores all of them
    assert store.ended == []
    assert len(stored.runs(journal.path)) == run_module.KEEP_BATCH
    assert list(log_path(journal.path, "x").parent.iterdir()) == []
    # A process that ends normally stores the runs it ended on its way out.
    code = (
        "from synapse_steps.journal import Journal\n"
        f"r = Journal({str(journal.path)!r}).start_run('exit', ['a'])\n"
        "r.step_completed(0, 'a', {}, {})\n"
        "r.finish('succeeded')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert list(log_path(journal.path, "x").parent.iterdir()) == []
    with sqlite3.connect(journal.path) as conn:
        assert conn.execute("SELECT status FROM runs WHERE workflow = 'exit'").fetchall() == [
            ("succeeded",)
        ]


def test_a_run_that_ended_but_was_not_stored_when_its_process_died_is_never_recovered(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "j.sqlite3"
    code = (
        "import sys, time\n"
        "from synapse_steps.journal import Journal\n"
        f"r = Journal({str(journal)!r}).start_run('wf', ['a'])\n"
        "r.step_completed(0, 'a', {}, {})\n"
        "r.finish('succeeded')\n"
        "print(r.run_id, flush=True)\n"
        "time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        run_id = child.stdout.readline().strip()
        # Ended, not stored yet (its process stores its runs in batches), its log still held.
        assert unfinished_runs(journal) == []
        with pytest.raises(JournalError, match="finished normally with status 'succeeded'"):
            recover_steps(run_id, lambda *_: None, journal)
    finally:
        child.kill()  # dies before storing it
        child.wait()
    assert log_path(journal, run_id).exists()
    assert unfinished_runs(journal) == []  # the listing stores it now
    assert not log_path(journal, run_id).exists()
    assert stored.runs(journal) == [(run_id, "wf", "succeeded")]


def test_the_store_keeps_what_the_log_file_holds_not_what_was_counted(tmp_path: Path) -> None:
    # An interrupt can land after a write() returned and before its size was counted.
    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.start_run("wf", ["a", "b"])
    run.step_completed(0, "a", {}, {"n": 1})
    run._log_size -= 40  # the count missed part of a frame
    run.step_completed(1, "b", {}, {"n": 2})
    run.finish("interrupted")
    (kept,) = stored.logs(journal.path)
    assert kept.finish is not None
    assert kept.finish[1] == "interrupted"
    assert [e["name"] for e in kept.entries()] == ["a", "b"]


def test_a_log_with_a_valid_frame_but_a_hostile_header_is_named_not_crashed_on(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.start_run("wf", ["a"]).finish("succeeded")  # the store and its folder exist
    run_id = "0" * 32
    header = (RUN, run_id, "wf", "[not json", "[{}]", 1.0, 1, "h")
    log_path(journal.path, run_id).write_bytes(frame(header))
    with pytest.raises(JournalError, match=rf"{run_id}\.log cannot be read .* Move it out"):
        unfinished_runs(journal.path)
