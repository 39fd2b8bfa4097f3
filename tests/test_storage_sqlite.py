"""``synapse_steps.storage.sqlite``: the one way the store's index and the journal use SQLite."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from synapse_steps.storage import sqlite


def test_connect_sets_autocommit_the_busy_timeout_and_the_synchronous_level(
    tmp_path: Path,
) -> None:
    for level, number in (("NORMAL", 1), ("FULL", 2)):
        conn = sqlite.connect(tmp_path / "a.sqlite3", level, busy_timeout=2.5)  # type: ignore[arg-type]
        try:
            assert conn.isolation_level is None
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == number
        finally:
            conn.close()


def test_connect_refuses_another_synchronous_level(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NORMAL' or 'FULL'"):
        sqlite.connect(tmp_path / "a.sqlite3", "OFF")  # type: ignore[arg-type]
    assert not (tmp_path / "a.sqlite3").exists()


def test_set_wal_reports_the_mode(tmp_path: Path) -> None:
    conn = sqlite.connect(tmp_path / "a.sqlite3", "FULL")
    try:
        assert sqlite.set_wal(conn) == "wal"
    finally:
        conn.close()
    memory = sqlite3.connect(":memory:")
    assert sqlite.set_wal(memory) == "memory"  # the caller decides whether that is an error


def _table(path: Path) -> sqlite3.Connection:
    conn = sqlite.connect(path, "NORMAL")
    sqlite.set_wal(conn)
    conn.execute("CREATE TABLE IF NOT EXISTS t (x INTEGER)")
    return conn


def test_immediate_commits_on_a_clean_exit_and_rolls_back_otherwise(tmp_path: Path) -> None:
    conn = _table(tmp_path / "a.sqlite3")
    with sqlite.immediate(conn):
        conn.execute("INSERT INTO t VALUES (1)")

    def insert_then_fail() -> None:
        with sqlite.immediate(conn):
            conn.execute("INSERT INTO t VALUES (2)")
            raise KeyError("boom")

    with pytest.raises(KeyError):
        insert_then_fail()
    assert not conn.in_transaction
    other = sqlite3.connect(tmp_path / "a.sqlite3")
    assert other.execute("SELECT x FROM t").fetchall() == [(1,)]
    other.close()
    conn.close()


def test_immediate_takes_the_write_lock_up_front(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    holder = _table(path)
    waiter = sqlite.connect(path, "NORMAL", busy_timeout=0.05)
    with sqlite.immediate(holder):
        # No write yet, and still the other writer cannot begin: the lock is taken at BEGIN.
        with pytest.raises(sqlite3.OperationalError) as info, sqlite.immediate(waiter):
            pass
        assert sqlite.is_locked(info.value)
    holder.close()
    waiter.close()


def test_retry_while_locked_retries_only_locked_errors_and_only_until_the_timeout() -> None:
    calls: list[int] = []

    def locked_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise sqlite3.OperationalError("database is locked")
        return "done"

    assert sqlite.retry_while_locked(locked_twice, timeout=5.0, pause=0.001) == "done"
    assert len(calls) == 3

    def always_locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        sqlite.retry_while_locked(always_locked, timeout=0.05, pause=0.01)

    other: list[int] = []

    def broken() -> None:
        other.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        sqlite.retry_while_locked(broken, timeout=5.0, pause=0.001)
    assert other == [1]


def test_a_connection_for_another_thread_needs_check_same_thread_false(tmp_path: Path) -> None:
    shared = sqlite.connect(tmp_path / "a.sqlite3", "NORMAL", check_same_thread=False)
    own = sqlite.connect(tmp_path / "a.sqlite3", "NORMAL")
    errors: list[BaseException] = []

    def use() -> None:
        shared.execute("SELECT 1")
        try:
            own.execute("SELECT 1")
        except sqlite3.ProgrammingError as exc:
            errors.append(exc)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert len(errors) == 1
    shared.close()
    own.close()
