"""The journal's files under faults: a damaged SQLite file moved away as the error advises, a
full disk during ``recover()``, and many processes ending runs while another lists them."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import stored

from synapse_steps.journal import (
    Journal,
    JournalError,
    abandon,
    recover_steps,
    run_records,
    unfinished_runs,
)
from synapse_steps.journal._recovery import _store_ended
from synapse_steps.journal._run import keep_ended
from synapse_steps.journal._runlog import log_dir, log_path, read_log
from synapse_steps.journal._store import store_for

CHILD = Path(__file__).with_name("journal_child.py")


def _dead_run_of_a_killed_process(journal: Path, work: Path) -> str:
    """A child journals step "a" of a run, holds it and is killed: its run id."""
    proc = subprocess.Popen(
        [sys.executable, str(CHILD), "hold", str(journal), str(work)], stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not (work / "run_id").exists():
            assert proc.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return (work / "run_id").read_text()


def _sqlite_files(journal: Path) -> list[Path]:
    return [p for p in (journal, Path(f"{journal}-wal"), Path(f"{journal}-shm")) if p.exists()]


def _damage(journal: Path) -> None:
    """Garbage over the file and its WAL (where a young journal's pages still are)."""
    for path in _sqlite_files(journal)[:2]:
        path.write_bytes(b"this is not a database" * 1000)


# -- a damaged SQLite file, moved away as the error says ----------------------------------------


def test_moving_a_damaged_journal_away_as_advised_keeps_its_dead_runs(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    run_id = _dead_run_of_a_killed_process(journal, tmp_path)
    _damage(journal)
    with pytest.raises(JournalError) as caught:
        unfinished_runs(journal)
    advice = str(caught.value)
    assert str(journal) in advice
    assert "move it away" in advice
    assert "-wal" in advice
    assert f"Keep the folder {log_dir(journal)}" in advice
    # Followed to the letter: the file and its companions go, the folder stays.
    aside = tmp_path / "aside"
    aside.mkdir()
    for path in _sqlite_files(journal):
        path.rename(aside / path.name)
    (info,) = unfinished_runs(journal)
    assert info.run_id == run_id
    assert [s.name for s in info.completed_steps] == ["a"]
    calls: list[tuple[str, Any]] = []
    report = recover_steps(run_id, lambda name, _d, rb: calls.append((name, rb)), journal)
    assert report.rolled_back == ("a",)
    assert calls == [("a", {"path": tmp_path / "a"})]
    assert unfinished_runs(journal) == []
    # The new journal file in its place keeps the recovered run.
    assert stored.runs(journal) == [(run_id, "held", "recovered")]
    assert run_records(run_id, journal) == []


def test_a_dead_run_is_listed_recovered_and_read_with_no_sqlite_file_at_all(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "j.sqlite3"
    run_id = _dead_run_of_a_killed_process(journal, tmp_path)
    for path in _sqlite_files(journal):
        path.unlink()
    (info,) = unfinished_runs(journal)
    assert info.run_id == run_id
    assert run_records(run_id, journal) == []
    abandon(run_id, journal)
    assert unfinished_runs(journal) == []
    assert stored.runs(journal) == [(run_id, "held", "abandoned")]


def test_a_journal_file_replaced_while_this_process_uses_it(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    old = Journal(journal)
    finished = old.start_run("wf", ["a"])
    finished.finish("succeeded")
    dead = old.start_run("wf", ["a", "b"])
    dead.step_completed(0, "a", {}, {"path": "a"})
    dead._finalizer()
    assert [info.run_id for info in unfinished_runs(journal)] == [dead.run_id]
    # Moved away (say, it was damaged) while this process holds a connection to it.
    aside = tmp_path / "aside"
    aside.mkdir()
    for path in _sqlite_files(journal):
        path.rename(aside / path.name)
    (info,) = unfinished_runs(journal)
    assert info.run_id == dead.run_id
    recover_steps(dead.run_id, lambda *_: None, journal)
    new = Journal(journal).start_run("wf", ["a"])
    new.finish("succeeded")
    # Everything after the move went into the new file, nothing into the moved one.
    assert [(r[0], r[2]) for r in stored.runs(journal)] == [
        (dead.run_id, "recovered"),
        (new.run_id, "succeeded"),
    ]
    assert [r[0] for r in stored.runs(aside / journal.name)] == [finished.run_id]


# -- run logs: nothing re-creates one, leftovers are swept ----------------------------------------


def test_storing_an_ended_run_never_re_creates_the_log_its_owner_removed(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.start_run("wf", ["a"])
    run.finish("succeeded")  # ended; its process keeps it in the store with its next batch
    path = log_path(journal.path, run.run_id)
    assert read_log(path).finish is not None  # what a reader in another process saw ...
    keep_ended(store_for(journal.path))  # ... just before the owner stored it and removed it
    assert not path.exists()
    _store_ended(journal.path, run.run_id)  # that reader now stores the run it saw ended
    assert not path.exists()
    assert list(log_dir(journal.path).iterdir()) == []
    with pytest.raises(JournalError, match="finished normally"):
        recover_steps(run.run_id, lambda *_: None, journal.path)
    assert list(log_dir(journal.path).iterdir()) == []


def test_leftover_empty_logs_are_swept_and_nothing_else_is(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.start_run("wf", ["a"]).finish("succeeded")
    folder = log_dir(journal.path)
    leftover = folder / f"{'1' * 32}.log"  # what older versions left behind
    leftover.touch()
    foreign = folder / f"{'2' * 32}.log"  # not empty: somebody's file, never deleted
    foreign.write_bytes(b"not a log")
    held = folder / f"{'3' * 32}.log"  # empty but locked: somebody is at it
    held.touch()
    held_fd = os.open(held, os.O_RDWR)
    fcntl.flock(held_fd, fcntl.LOCK_EX)
    stale = folder / f".{'4' * 32}.log.new"  # a start killed before its log was in place
    stale.touch()
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    fresh = folder / f".{'5' * 32}.log.new"  # a start in progress: never touched
    fresh.touch()
    try:
        assert unfinished_runs(journal.path) == []
        assert sorted(p.name for p in folder.iterdir()) == sorted(
            [foreign.name, held.name, fresh.name]
        )
        with pytest.raises(JournalError, match="has no such run"):
            recover_steps("1" * 32, lambda *_: None, journal.path)
        with pytest.raises(JournalError, match=f"{foreign}.*no run header"):
            recover_steps("2" * 32, lambda *_: None, journal.path)
        assert foreign.read_bytes() == b"not a log"
    finally:
        os.close(held_fd)


def test_many_processes_ending_runs_while_another_lists_them_leave_no_log_behind(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "j.sqlite3"
    command = [sys.executable, str(CHILD), "concurrent", str(journal), str(tmp_path), "50", "2"]
    writers = [
        subprocess.Popen(
            [*command, f"p{n}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    poll = (
        "import sys\nfrom pathlib import Path\n"
        "from synapse_steps.journal import unfinished_runs\n"
        f"stop, polls = Path({str(tmp_path / 'stop')!r}), 0\n"
        "print('polling', flush=True)\n"
        f"while not stop.exists():\n    unfinished_runs({str(journal)!r})\n    polls += 1\n"
        "print(polls)\n"
    )
    poller = subprocess.Popen(
        [sys.executable, "-c", poll], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    for proc in [*writers, poller]:
        assert proc.stdout is not None
        assert proc.stdout.readline() in ("ready\n", "polling\n")
    (tmp_path / "go").touch()
    for proc in writers:
        _out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    (tmp_path / "stop").touch()
    polls, err = poller.communicate(timeout=60)
    assert poller.returncode == 0, err
    assert int(polls) > 10  # the listing did run while the runs ended
    assert unfinished_runs(journal) == []
    assert list(log_dir(journal).iterdir()) == []
    assert len(stored.runs(journal)) == 200
