"""The journal's contract, in one process (and a few small child processes)."""

from __future__ import annotations

import gc
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import pytest
import stored

import synapse_steps.journal._run as run_module
from synapse_steps.journal import (
    Journal,
    JournalError,
    JournalRun,
    abandon,
    recover_steps,
    run_records,
    unfinished_runs,
)
from synapse_steps.journal._codec import decode
from synapse_steps.journal._runlog import log_path, read_log, read_ops
from synapse_steps.journal._store import store_for

CHILD = Path(__file__).with_name("journal_child.py")


class Calls:
    """A rollback that remembers its calls."""

    def __init__(self, fail: dict[str, BaseException] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.fail = fail or {}

    def __call__(self, name: str, data: dict[str, Any], rollback_data: dict[str, Any]) -> None:
        self.calls.append((name, data, rollback_data))
        if name in self.fail:
            raise self.fail[name]

    @property
    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


def _start(journal: Journal, steps: tuple[str, ...] = ("a", "b", "c")) -> JournalRun:
    return journal.start_run("wf", list(steps), started_at=1_700_000_000.5, meta={"user": "me"})


def _dead(run: JournalRun) -> str:
    """Let go of ``run``'s lock without finish(), as the OS does when its process dies; its id.

    (The same as dropping the last reference to an unfinished run: see the test below.)
    """
    run._finalizer()
    return run.run_id


def _committed_records(path: Path) -> list[dict[str, Any]]:
    """The records of every run the store keeps, oldest run first."""
    return [record for run_id, _w, _s in stored.runs(path) for record in run_records(run_id, path)]


def _seen_records(journal: Journal, run: JournalRun) -> list[dict[str, Any]]:
    """The run's records as another process would read them now: the store's and those in the
    run's log file (``records`` reads both from disk, nothing from ``run``)."""
    return journal.records(run.run_id)


def _log_entries(journal: Journal, run: JournalRun) -> list[tuple[Any, Any]]:
    """(position, name) of each entry in the run's log file on disk."""
    ops, _ = read_ops(log_path(journal.path, run.run_id))
    return [(op[2], op[3]) for _at, op in ops if op[0] == "entry"]


# -- where the journal lives --------------------------------------------------------------


def test_nothing_is_written_before_the_first_run(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "j.sqlite3"
    journal = Journal(path)
    assert journal.path == path
    assert unfinished_runs(path) == []
    assert not (tmp_path / "sub").exists()
    _start(journal).finish("succeeded")
    assert path.exists()


def test_default_journal_is_in_the_local_store_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_HOME", str(tmp_path / "home"))
    assert Journal().path == tmp_path / "home" / "journal.sqlite3"
    # A folder stands for the journal inside it.
    assert Journal(tmp_path).path == tmp_path / "journal.sqlite3"
    run = _start(Journal())
    assert [r.run_id for r in unfinished_runs()] == [run.run_id]


# -- what a run writes, and when ----------------------------------------------------------


def test_a_run_is_listed_with_its_records_from_start_run_on(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    # An open run lives in its log: the store holds it once it ended.
    assert stored.runs(journal.path) == []
    header = read_log(log_path(journal.path, run.run_id)).header
    assert header is not None
    assert header[1:3] == (run.run_id, "wf")
    (listed,) = journal.unfinished_runs()
    assert listed.run_id == run.run_id
    assert listed.workflow == "wf"
    assert listed.steps == ("a", "b", "c")
    assert listed.started_at.timestamp() == 1_700_000_000.5
    assert listed.started_at.tzinfo is not None
    assert listed.meta == {"user": "me"}
    assert listed.pid == os.getpid()
    assert listed.completed_steps == ()
    assert listed.owner_alive


def test_step_completed_is_written_with_the_records_before_it_returns(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    run.record({"type": "StepStarted", "name": "a"})
    run.record({"type": "Logged", "event": "hello", "data": {"path": Path("x")}})
    assert _seen_records(journal, run) == []
    assert run.step_completed(0, "a", {"rows": 3}, {"path": tmp_path / "a.txt"})
    assert _log_entries(journal, run) == [(0, "a")]
    assert len(_seen_records(journal, run)) == 2
    assert journal.records(run.run_id)[1]["data"]["path"] == Path("x")
    (step,) = unfinished_runs(journal.path)[0].completed_steps
    assert (step.position, step.name, step.success, step.recoverable) == (0, "a", True, True)
    assert step.rollback is None


def test_buffered_records_reach_the_disk_during_a_long_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    run.record({"type": "Logged", "event": "one"})
    assert _seen_records(journal, run) == []
    monkeypatch.setattr(run_module, "FLUSH_SECONDS", 0.0)
    run.record({"type": "Logged", "event": "two"})
    assert len(_seen_records(journal, run)) == 2
    monkeypatch.setattr(run_module, "FLUSH_SECONDS", 3600.0)
    monkeypatch.setattr(run_module, "FLUSH_RECORDS", 10)
    for i in range(10):
        run.record({"type": "MetricsReported", "value": {"loss": i}})
    assert len(_seen_records(journal, run)) == 12
    assert _log_entries(journal, run) == [(None, None), (None, None)]  # two records entries


def test_progress_is_coalesced_per_step_and_category_until_another_record(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    for i in range(100):
        run.record({"type": "ProgressReported", "step": "a", "category": None, "current": i})
        run.record({"type": "ProgressReported", "step": "a", "category": "io", "current": -i})
    run.record({"type": "MetricsReported", "value": {"loss": 0.5}})
    for i in range(10):
        run.record({"type": "ProgressReported", "step": "a", "category": None, "current": i})
    run.step_completed(0, "a", {}, {})
    run.finish("succeeded")
    assert [
        (r["type"], r.get("category"), r.get("current"))
        for r in run_records(run.run_id, journal.path)
    ] == [
        ("ProgressReported", None, 99),
        ("ProgressReported", "io", -99),
        ("MetricsReported", None, None),
        ("ProgressReported", None, 9),
    ]


def test_the_progress_fast_path_converts_only_the_latest_record(tmp_path: Path) -> None:
    converted: list[int] = []

    class Progress:
        def __init__(self, current: int) -> None:
            self.current = current

        def to_dict(self) -> dict[str, Any]:
            converted.append(self.current)
            return {"type": "ProgressReported", "step": "a", "current": self.current}

    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    for i in range(1000):
        run.progress(("a", None), Progress(i))
        run.progress(("a", "io"), {"type": "ProgressReported", "category": "io", "current": -i})
    run.record({"type": "Logged", "event": "x"})
    run.progress(("a", None), Progress(5))
    run.step_completed(0, "a", {}, {})
    assert converted == [999, 5]
    assert [r.get("current") for r in journal.records(run.run_id)] == [999, -999, None, 5]


def test_a_million_progress_calls_keep_the_journal_small(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    event = {"type": "ProgressReported", "step": "a", "category": None, "current": 0}
    for i in range(1_000_000):
        if i % 100_000 == 0:
            run.record({"type": "MetricsReported", "value": {"loss": 1 / (i + 1)}})
        run.record(event)
    run.step_completed(0, "a", {}, {})
    run.finish("succeeded")
    records = _committed_records(journal.path)
    assert [r["type"] for r in records] == ["MetricsReported", "ProgressReported"] * 10
    assert [r["current"] for r in records[1::2]] == [0] * 10
    (log,) = stored.logs(journal.path)
    assert len(log.ops) <= 11
    size = sum(p.stat().st_size for p in tmp_path.glob("j.sqlite3*") if p.is_file())
    assert size < 200_000


def test_a_finished_run_is_not_unfinished_and_is_closed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    run.step_completed(0, "a", {}, {})
    run.finish("failed")
    assert run.finished == "failed"
    assert journal.unfinished_runs() == []
    assert [status for _id, _w, status in stored.runs(journal.path)] == ["failed"]
    with pytest.raises(JournalError, match="already finished"):
        run.step_completed(1, "b", {}, {})
    with pytest.raises(JournalError, match="already finished"):
        run.finish("succeeded")
    with pytest.raises(JournalError, match="finished normally with status 'failed'"):
        recover_steps(run.run_id, Calls(), journal.path)
    # The log file (and lock) is gone with the run: its entries are in the store.
    assert list((tmp_path / "j.sqlite3-runs").iterdir()) == []
    assert [e["name"] for e in stored.entries(journal.path)] == ["a"]


def test_finish_needs_a_status(tmp_path: Path) -> None:
    run = _start(Journal(tmp_path / "j.sqlite3"))
    with pytest.raises(JournalError, match="non-empty status"):
        run.finish("")


# -- values that cannot be stored ------------------------------------------------------------


def test_unstorable_rollback_data_warns_once_per_step_name_and_the_step_is_not_recoverable(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    name = f"b-{uuid.uuid4().hex[:8]}"  # warned once per process: a name no other test used
    assert run.step_completed(0, "a", {}, {"path": tmp_path / "a"})
    with open(__file__) as fh, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ok = run.step_completed(1, name, {"model": object()}, {"handle": fh, "a\nb": {1: 2}})
        # The same step in the next run of the loop says nothing more.
        other = _start(journal)
        assert other.step_completed(0, name, {}, {"handle": fh}) is False
        other.finish("failed")
    assert ok is False
    assert len(caught) == 1
    message = str(caught[0].message)
    assert caught[0].category is RuntimeWarning
    assert f"'{name}'" in message
    assert "data['model']" not in message  # data is not what recovery needs: never a warning
    assert "rollback_data['handle']" in message
    assert "NOT recoverable" in message
    assert caught[0].filename == __file__
    # The run goes on.
    assert run.step_completed(2, "c", {}, {"path": tmp_path / "c"})
    steps = unfinished_runs(journal.path)[0].completed_steps
    assert [s.recoverable for s in steps] == [True, False, True]
    assert steps[1].unstorable[0].startswith("rollback_data['handle']: a _io.TextIOWrapper")
    assert steps[1].unstorable[1] == "rollback_data['a\\nb']: a dict key 1 that is not a str"
    run_id = _dead(run)
    (info,) = unfinished_runs(journal.path)
    assert info.to_roll_back == ("c", "a")
    rollback = Calls()
    report = recover_steps(run_id, rollback, journal.path)
    assert rollback.names == ["c", "a"]
    assert report.not_recoverable == (name,)
    assert report.rolled_back == ("c", "a")


def test_data_is_kept_when_small_and_plain_else_summarised(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    small = {"rows": 3, "path": tmp_path / "x", "names": ["a", "b"]}
    big = {"values": list(range(100_000)), "model": object(), "n": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither is worth a warning
        assert run.step_completed(0, "small", small, {"undo": "x"})
        assert run.step_completed(1, "big", big, {"undo": "y"})
    run_id = _dead(run)
    seen: dict[str, Any] = {}
    recover_steps(run_id, lambda n, data, rb: seen.__setitem__(n, (data, rb)), journal.path)
    assert seen["small"] == (small, {"undo": "x"})
    # Recovery gets what it needs (rollback_data); data too large to keep comes back empty.
    assert seen["big"] == ({}, {"undo": "y"})
    entry = next(e for e in stored.entries(journal.path) if e["name"] == "big")
    assert decode(entry["data"]) == {
        "values": "list of 100000",
        "model": "object",
        "n": "int",
    }


# -- who owns a run -------------------------------------------------------------------------


def test_a_run_open_in_this_process_is_alive_and_cannot_be_recovered(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    run.step_completed(0, "a", {}, {})
    (info,) = journal.unfinished_runs()
    assert info.owner_alive
    with pytest.raises(JournalError, match=f"still running in process {os.getpid()}"):
        journal.recover_steps(run.run_id, Calls())
    with pytest.raises(JournalError, match="still running"):
        journal.abandon(run.run_id)
    run_id = _dead(run)
    (info,) = journal.unfinished_runs()
    assert not info.owner_alive
    assert journal.recover_steps(run_id, Calls()).rolled_back == ("a",)


def test_a_run_of_a_live_process_is_alive_until_that_process_is_killed(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), "hold", str(journal), str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not (tmp_path / "run_id").exists():
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.01)
        run_id = (tmp_path / "run_id").read_text()
        (info,) = unfinished_runs(journal)
        assert (info.run_id, info.pid, info.owner_alive) == (run_id, proc.pid, True)
        rollback = Calls()
        with pytest.raises(JournalError, match=f"still running in process {proc.pid}"):
            recover_steps(run_id, rollback, journal)
        assert rollback.calls == []
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    (info,) = unfinished_runs(journal)
    assert not info.owner_alive
    assert recover_steps(run_id, rollback, journal).rolled_back == ("a",)
    assert rollback.calls == [("a", {}, {"path": tmp_path / "a"})]


def test_a_forked_child_cannot_write_into_its_parents_run(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    run.step_completed(0, "a", {}, {})
    pid = os.fork()
    if pid == 0:  # the child: must be refused before it touches the parent's connection
        try:
            run.step_completed(1, "b", {}, {})
        except JournalError as exc:
            os._exit(3 if "a fork of it" in str(exc) else 4)
        os._exit(5)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3
    run.step_completed(1, "b", {}, {})
    run.finish("succeeded")
    assert [e["name"] for e in stored.entries(journal.path)] == ["a", "b"]


def test_an_unfinished_run_dropped_by_its_process_counts_as_dead(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    run.step_completed(0, "a", {}, {})
    assert journal.unfinished_runs()[0].owner_alive
    del run
    gc.collect()
    (info,) = journal.unfinished_runs()
    assert not info.owner_alive
    assert [s.name for s in info.completed_steps] == ["a"]


# -- recovery -------------------------------------------------------------------------------


def test_recovery_rolls_back_newest_first_with_the_journaled_values(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    run.step_completed(0, "a", {"n": 1}, {"path": tmp_path / "a", "ids": (1, 2)})
    run.step_completed(1, "b", {"n": 2}, {"dirs": [tmp_path / "b"]})
    run.step_completed(2, "c", {"n": 3}, {}, success=False)
    rollback = Calls()
    report = recover_steps(_dead(run), rollback, journal.path)
    assert rollback.calls == [
        ("c", {"n": 3}, {}),
        ("b", {"n": 2}, {"dirs": [tmp_path / "b"]}),
        ("a", {"n": 1}, {"path": tmp_path / "a", "ids": (1, 2)}),
    ]
    assert type(rollback.calls[2][2]["ids"]) is tuple
    assert report.rolled_back == ("c", "b", "a")
    assert report.retried == report.errors == report.already_rolled_back == ()
    assert journal.unfinished_runs() == []
    assert [status for _id, _w, status in stored.runs(journal.path)] == ["recovered"]


def test_a_run_is_never_recovered_twice(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    run.step_completed(0, "a", {}, {})
    run_id = _dead(run)
    rollback = Calls()
    journal.recover_steps(run_id, rollback)
    with pytest.raises(JournalError, match="already recovered"):
        journal.recover_steps(run_id, rollback)
    with pytest.raises(JournalError, match="already recovered"):
        journal.abandon(run_id)
    assert rollback.names == ["a"]


def test_steps_the_run_rolled_back_itself_are_not_rolled_back_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal, ("a", "b", "c", "d"))
    for i, name in enumerate("abcd"):
        run.step_completed(i, name, {}, {"i": i})
    # The run was rolling back when its process died: d done, c started and cut short.
    run.rollback_started("d")
    run.step_rolled_back("d", None)
    run.rollback_started("c")
    states = [s.rollback for s in unfinished_runs(journal.path)[0].completed_steps]
    assert states == [None, None, "started", "done"]
    rollback = Calls()
    report = journal.recover_steps(_dead(run), rollback)
    assert rollback.names == ["c", "b", "a"]
    assert report.already_rolled_back == ("d",)
    assert report.retried == ("c",)
    assert report.rolled_back == ("c", "b", "a")
    (log,) = stored.logs(journal.path)
    assert [e["rollback"] for e in log.entries()] == ["done"] * 4
    assert stored.rollback_calls(log) == {"a": 1, "b": 1, "c": 2, "d": 1}


def test_a_rollback_that_raises_is_reported_and_the_others_still_run(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    for i, name in enumerate("abc"):
        run.step_completed(i, name, {}, {})
    rollback = Calls(fail={"b": OSError("disk gone")})
    report = journal.recover_steps(_dead(run), rollback)
    assert rollback.names == ["c", "b", "a"]
    assert report.errors == ("b: OSError: disk gone",)
    # A rollback that raised is not "rolled back": the report never claims more than happened.
    assert report.rolled_back == ("c", "a")
    errors = {e["name"]: e["rollback_error"] for e in stored.entries(journal.path)}
    assert errors == {"a": None, "b": "OSError: disk gone", "c": None}


def test_a_rollback_that_raised_before_is_reported_as_failed_not_rolled_back(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    for i, name in enumerate("abc"):
        run.step_completed(i, name, {}, {})
    run.rollback_started("c")
    run.step_rolled_back("c", None)
    run.rollback_started("b")
    run.step_rolled_back("b", "OSError: read-only")  # the run's own rollback of b raised
    rollback = Calls(fail={"a": RuntimeError("still locked")})
    report = journal.recover_steps(_dead(run), rollback)
    assert rollback.names == ["a"]  # neither c nor b is called again
    assert report.already_rolled_back == ("c",)
    assert report.failed_before == ("b: OSError: read-only",)
    assert report.rolled_back == ()
    assert report.errors == ("a: RuntimeError: still locked",)


def test_an_interrupted_recovery_is_resumed_by_the_next_one(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    for i, name in enumerate("abc"):
        run.step_completed(i, name, {}, {})
    run_id = _dead(run)
    stopped = Calls(fail={"b": KeyboardInterrupt()})
    with pytest.raises(KeyboardInterrupt):
        journal.recover_steps(run_id, stopped)
    assert stopped.names == ["c", "b"]
    (info,) = journal.unfinished_runs()
    assert [s.rollback for s in info.completed_steps] == [None, "started", "done"]
    assert not info.owner_alive
    rollback = Calls()
    report = journal.recover_steps(run_id, rollback)
    assert rollback.names == ["b", "a"]
    assert report.retried == ("b",)
    assert report.already_rolled_back == ("c",)


def test_abandon_rolls_nothing_back_and_the_run_is_not_offered_again(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    run.step_completed(0, "a", {}, {})
    run_id = _dead(run)
    abandon(run_id, journal.path)
    assert journal.unfinished_runs() == []
    rollback = Calls()
    with pytest.raises(JournalError, match="was abandoned"):
        recover_steps(run_id, rollback, journal.path)
    assert rollback.calls == []
    assert [status for _id, _w, status in stored.runs(journal.path)] == ["abandoned"]


def test_errors_name_the_run_and_the_journal_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    with pytest.raises(JournalError, match=f"no run journal at {missing}"):
        recover_steps("abc", Calls(), missing)
    journal = Journal(tmp_path / "j.sqlite3")
    run = _start(journal)
    with pytest.raises(JournalError, match=rf"'nope'.*{journal.path}.*unfinished_runs\(\)"):
        journal.abandon("nope")
    with pytest.raises(JournalError, match="no completed, not rolled back step named 'zz'"):
        run.rollback_started("zz")
    run.step_completed(0, "a", {}, {})
    with pytest.raises(JournalError, match="already has a step at position 0"):
        run.step_completed(0, "b", {}, {})
    run.rollback_started("a")
    run.step_rolled_back("a", "boom")
    with pytest.raises(JournalError, match="named 'a'"):
        run.step_rolled_back("a")


def test_a_damaged_journal_file_is_reported_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match=str(path)) as info:
        Journal(path).start_run("wf", ["a"])
    # Not "check that the folder is writable": the file is there, it is not a journal.
    assert "move it away" in str(info.value)


# -- integrity ------------------------------------------------------------------------------


def _cut(mode: str, journal: Path, work: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(CHILD), mode, str(journal), str(work)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr


def test_a_log_cut_in_the_middle_of_an_entry_shows_the_run_unfinished(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    _cut("cut", journal, tmp_path)
    run_id = (tmp_path / "run_id").read_text()
    log = log_path(journal, run_id)
    # The log holds half of the big entry's frame (4 MB of 8), after the three whole ones.
    assert log.stat().st_size > 4_000_000
    (info,) = unfinished_runs(journal)
    assert info.run_id == run_id
    assert [s.name for s in info.completed_steps] == ["a", "b", "c"]
    assert not info.owner_alive
    assert run_records(info.run_id, journal) == []  # the Logged record went with the cut entry
    assert recover_steps(info.run_id, Calls(), journal).rolled_back == ("c", "b", "a")
    assert not log.exists()
    assert [(e["name"], e["rollback"]) for e in stored.entries(journal)] == [
        ("a", "done"),
        ("b", "done"),
        ("c", "done"),
    ]


def test_a_store_cut_in_the_middle_of_its_transaction_leaves_the_ended_run_to_the_next_reader(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "j.sqlite3"
    _cut("cut-store", journal, tmp_path)
    run_id = (tmp_path / "run_id").read_text()
    # The WAL holds the cut transaction's pages (several MB), without its commit.
    assert Path(f"{journal}-wal").stat().st_size > 2_000_000
    with sqlite3.connect(journal) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert stored.runs(journal) == []
    # The run's end is in its log: it is not offered for recovery, and the listing stores it.
    assert unfinished_runs(journal) == []
    assert not log_path(journal, run_id).exists()
    assert stored.runs(journal) == [(run_id, "cut-store", "succeeded")]
    assert [e["name"] for e in stored.entries(journal)] == ["a", "b", "c", "big"]
    with pytest.raises(JournalError, match="finished normally"):
        recover_steps(run_id, Calls(), journal)


def test_four_processes_journaling_into_one_file_lose_nothing(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    runs, steps = 3, 150
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(CHILD),
                "concurrent",
                str(journal),
                str(tmp_path),
                str(runs),
                str(steps),
                f"p{n}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
    (tmp_path / "go").touch()
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert unfinished_runs(journal) == []
    rows = sorted(stored.runs(journal), key=lambda row: row[1])
    assert [(w, s) for _id, w, s in rows] == [
        (f"p{n}-{r}", "succeeded") for n in range(4) for r in range(runs)
    ]
    logged = {rid for n in range(4) for rid in (tmp_path / f"p{n}.log").read_text().split()}
    assert logged == {rid for rid, _w, _s in rows}
    for run_id, workflow, _status in rows:
        records = run_records(run_id, journal)
        assert [r["type"] for r in records] == ["Logged", "MetricsReported"] * steps
        assert [r["data"]["i"] for r in records[::2]] == list(range(steps))
        assert {r["data"]["tag"] for r in records[::2]} == {workflow.split("-")[0]}
    logs = stored.logs(journal)
    for log in logs:
        positions = [e["position"] for e in log.entries() if e["position"] is not None]
        assert positions == list(range(steps))
    # The writers did overlap: steps of different processes alternate in time (one writer
    # after another would switch 3 times), and each one wrote while another did. How often they
    # alternate is the scheduler's business: 2 cores give a time slice of 100+ steps to each.
    completed = sorted(
        (e["completed_at"], log.workflow.split("-")[0])
        for log in logs
        for e in log.entries()
        if e["position"] is not None
    )
    switches = sum(a[1] != b[1] for a, b in itertools.pairwise(completed))
    assert switches > 3, switches
    spans = {
        tag: (
            min(at for at, t in completed if t == tag),
            max(at for at, t in completed if t == tag),
        )
        for tag in (f"p{n}" for n in range(4))
    }
    for tag, (first, last) in spans.items():
        others = [span for other, span in spans.items() if other != tag]
        assert any(first < o_last and o_first < last for o_first, o_last in others), spans


# -- weight ---------------------------------------------------------------------------------


def test_import_synapse_steps_does_not_import_the_journal_which_needs_only_the_stdlib() -> None:
    code = (
        "import sys\n"
        "import synapse_steps\n"
        "assert not [m for m in sys.modules if 'journal' in m], 'journal imported'\n"
        "before = set(sys.modules)\n"
        "import synapse_steps.journal\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "other = new - set(sys.stdlib_module_names) - {'synapse_steps'}\n"
        "other = {m for m in other if not m.startswith('_sysconfigdata')}\n"
        "assert not other, other\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_old_finished_runs_are_pruned_per_workflow_unfinished_ones_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synapse_steps.journal._kept as kept_module

    monkeypatch.setattr(kept_module, "KEEP_FINISHED", 3)
    journal = Journal(tmp_path / "j.sqlite3")
    unfinished = journal.start_run("A", ["s"])
    unfinished.step_completed(0, "s", {}, {"path": "x"})
    finished_a = []
    for _ in range(5):
        run = journal.start_run("A", ["s"])
        run.record({"type": "Logged", "event": "hello"})
        run.finish("succeeded")
        finished_a.append(run.run_id)
    other = journal.start_run("B", ["s"])
    other.finish("failed")
    latest = journal.start_run("A", ["s"])
    latest.finish("succeeded")  # storing it prunes A's finished runs beyond the newest 3

    for run_id in finished_a[:3]:
        with pytest.raises(JournalError, match="has no run"):
            journal.records(run_id)
    for run_id in finished_a[3:]:
        assert [r["type"] for r in journal.records(run_id)] == ["Logged"]
    assert journal.records(other.run_id) == []  # another workflow: untouched
    # The unfinished run (its step not rolled back) is never pruned.
    assert [info.run_id for info in journal.unfinished_runs()] == [unfinished.run_id]
    kept = [run_id for run_id, _w, _s in stored.runs(journal.path)]
    assert kept == [*finished_a[3:], other.run_id, latest.run_id]
    unfinished.finish("abandoned")


def test_finished_runs_are_pruned_by_total_bytes_too_newest_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synapse_steps.journal._kept as kept_module

    monkeypatch.setattr(kept_module, "KEEP_BYTES", 200_000)
    journal = Journal(tmp_path / "j.sqlite3")
    unfinished = journal.start_run("A", ["s"])
    unfinished.step_completed(0, "s", {}, {"path": "x"})
    ids = []
    for index in range(12):  # ~50 KB each, in several workflows: 600 KB written in all
        run = journal.start_run(f"W{index % 3}", ["s"])
        run.record({"type": "Logged", "event": "big", "data": {"text": "x" * 50_000}})
        run.finish("succeeded")
        ids.append(run.run_id)
    run_module.keep_ended(store_for(journal.path))
    kept = [run_id for run_id, _w, _s in stored.runs(journal.path)]
    # The newest runs that fit in the bound, whatever their workflow; never an unfinished one.
    assert kept == ids[-len(kept) :]
    assert 2 <= len(kept) <= 4
    with sqlite3.connect(journal.path) as conn:
        (total,) = conn.execute("SELECT SUM(length(log)) FROM runs").fetchone()
    assert total <= 200_000
    assert [info.run_id for info in journal.unfinished_runs()] == [unfinished.run_id]
    unfinished.finish("abandoned")
