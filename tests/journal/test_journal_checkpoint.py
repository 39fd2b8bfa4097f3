"""WAL checkpoints happen in a background thread, not inside a step's commit."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import synapse_steps.journal._checkpoint as checkpoint_module
import synapse_steps.journal._run as run_module
from synapse_steps.journal import Journal
from synapse_steps.journal._checkpoint import BACKSTOP_PAGES, Checkpointer
from synapse_steps.journal._run import keep_ended
from synapse_steps.journal._store import store_for


def _wal_frames(path: Path) -> tuple[int, int]:
    """(frames in the WAL, frames of it already copied into the database), seen from outside."""
    with sqlite3.connect(path) as conn:
        # A PASSIVE checkpoint by another connection that copies nothing new: it only reports.
        _busy, log, done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return log, done


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_the_writer_does_not_checkpoint_every_thousand_pages(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    journal.start_run("wf", ["a"]).finish("succeeded")
    conn = store_for(journal.path).conn
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL


def test_a_finished_run_is_checkpointed_in_the_background(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_module, "CHECKPOINT_BYTES", 1)
    journal = Journal(tmp_path / "j.sqlite3")
    checkpointer = store_for(journal.path).checkpointer
    before = checkpointer.done
    run = journal.start_run("wf", ["a", "b"])
    for i, name in enumerate(["a", "b"]):
        run.step_completed(i, name, {"n": i}, {"path": tmp_path / name})
    assert checkpointer.done == before  # no checkpoint while the run goes on
    run.finish("succeeded")
    keep_ended(store_for(journal.path))  # the run is written to the store now
    assert _wait_for(lambda: checkpointer.done > before)
    log, done = _wal_frames(journal.path)
    assert log == done  # everything the run wrote is in the database file


def test_a_checkpoint_is_asked_for_once_runs_stored_enough_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    store = store_for(journal.path)
    asked: list[int] = []
    monkeypatch.setattr(store.checkpointer, "request", lambda: asked.append(1))

    def one_run() -> int:
        run = journal.start_run("wf", ["a"])
        run.step_completed(0, "a", {}, {"blob": "x" * 1000})
        run.finish("succeeded")
        keep_ended(store)
        return int(run._log_size)

    size = one_run()
    store.stored = 0
    monkeypatch.setattr(run_module, "CHECKPOINT_BYTES", 3 * size)
    one_run()
    one_run()
    assert asked == []  # short runs: not worth syncing two files after each
    one_run()  # the third: CHECKPOINT_BYTES stored since the last checkpoint
    assert asked == [1]
    assert store.stored == 0


def test_an_idle_checkpoint_thread_ends_and_starts_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkpoint_module, "IDLE_SECONDS", 0.05)
    journal = Journal(tmp_path / "j.sqlite3")
    journal.start_run("wf", ["a"]).finish("succeeded")
    checkpointer = Checkpointer(journal.path)
    checkpointer.request()
    first = checkpointer._thread
    assert first is not None
    assert _wait_for(lambda: checkpointer.done == 1)
    assert _wait_for(lambda: checkpointer._thread is None)
    first.join(timeout=5)
    assert not first.is_alive()
    checkpointer.request()
    assert _wait_for(lambda: checkpointer.done == 2)
    assert checkpointer._thread is not first


def test_a_checkpoint_failure_is_ignored(tmp_path: Path) -> None:
    # A path SQLite cannot open: the error stays in the thread, which then ends by idling.
    checkpointer = Checkpointer(tmp_path / "missing-folder" / "j.sqlite3")
    checkpointer.request()
    assert _wait_for(lambda: checkpointer._thread is None)
    assert checkpointer.done == 0


def test_fork_waits_for_a_checkpoint_in_progress(tmp_path: Path) -> None:
    # A child forked while the thread is inside SQLite could inherit SQLite's mutexes locked.
    checkpointer = Checkpointer(tmp_path / "j.sqlite3")
    started, finished = threading.Event(), threading.Event()

    def slow_checkpoint() -> None:
        started.set()
        time.sleep(0.3)
        finished.set()

    checkpointer._checkpoint = slow_checkpoint  # type: ignore[method-assign]
    checkpointer.request()
    assert started.wait(10)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what it inherited, then leave at once
        state = f"{int(finished.is_set())}{int(checkpointer._thread is None)}"
        state += str(int(checkpointer._running.acquire(blocking=False)))
        os.write(write, state.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        state = pipe.read()
    os.waitpid(pid, 0)
    # Finished before the fork; the child has no thread and a free lock of its own.
    assert state == "111"
    assert checkpointer._running.acquire(timeout=5)  # released in the parent too
    checkpointer._running.release()
