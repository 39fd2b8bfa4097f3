"""The journal's files under faults: a damaged SQLite file moved away as the error advises, a
full disk during ``recover()``, and many processes ending runs while another lists them."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
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
from synapse_steps.journal._listing import store_ended
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
    store_ended(journal.path, run.run_id)  # that reader now stores the run it saw ended
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


# -- recover() on a full disk ---------------------------------------------------------------------


def _many_steps_dead(journal: Path, steps: int) -> str:
    run = Journal(journal).start_run("wf", [f"s{i:02d}" for i in range(steps)])
    for i in range(steps):
        run.step_completed(i, f"s{i:02d}", {"i": i}, {"path": "/x/" + "p" * 200})
    run._finalizer()
    return run.run_id


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 300 KB tmpfs (the tests run as root)."""
    if sys.platform != "linux":
        pytest.skip("mounts a tmpfs")
    disk = tmp_path / "small"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(disk)], check=False
    )
    if mounted.returncode != 0:
        pytest.fail("mounting a tmpfs failed: these tests run as root (CI does)")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def _fill(disk: Path) -> None:
    filler = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
    with pytest.raises(OSError, match="No space left"):  # noqa: PT012 - fill to the brim
        while True:
            os.write(filler, b"\0" * 512)
    os.close(filler)


def _recover_in_a_new_process(run_id: str, journal: Path) -> tuple[str, str, list[str]]:
    """``recover_steps`` in another process, as after a kernel restart: (the error's type or
    "finished", its message, the rollbacks called)."""
    attempt = (
        "import json\nfrom synapse_steps.journal import recover_steps\ncalls = []\n"
        f"try:\n    recover_steps({run_id!r}, lambda n, *_: calls.append(n), {str(journal)!r})"
        "\nexcept Exception as exc:\n    print(type(exc).__name__)\n    print(str(exc))\n"
        "else:\n    print('finished')\n    print()\n"
        "print(json.dumps(calls))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", attempt], capture_output=True, text=True, check=True
    )
    kind, message, calls = out.stdout.splitlines()
    return kind, message, json.loads(calls)


def test_recover_on_a_full_disk_says_nothing_was_lost_and_the_retry_finishes(
    small_disk: Path,
) -> None:
    journal = small_disk / "j.sqlite3"
    run_id = _many_steps_dead(journal, 80)
    _fill(small_disk)
    kind, message, first_calls = _recover_in_a_new_process(run_id, journal)
    assert kind == "JournalError", message
    assert str(journal) in message
    assert str(log_dir(journal)) in message
    assert "No space left on device" in message
    assert "Nothing was lost" in message
    assert "call recover() again" in message
    assert first_calls == [f"s{i:02d}" for i in range(79, 79 - len(first_calls), -1)]
    (small_disk / "filler").unlink()
    calls: list[str] = []
    report = recover_steps(run_id, lambda name, *_: calls.append(name), journal)
    # This call goes on where the first one stopped: every step undone once, but the one
    # whose rollback returned when its mark could not be written (the message says so).
    again = first_calls[-1:] if "could not be marked" in message else []
    assert report.retried == tuple(again)
    assert first_calls + calls[len(again) :] == [f"s{i:02d}" for i in range(79, -1, -1)]
    assert set(report.already_rolled_back) == set(first_calls) - set(again)
    assert unfinished_runs(journal) == []
    assert [r[2] for r in stored.runs(journal)] == ["recovered"]


def test_a_journal_that_cannot_even_be_opened_on_a_full_disk_says_so(small_disk: Path) -> None:
    journal = small_disk / "j.sqlite3"
    code = (
        "from synapse_steps.journal import Journal\n"
        f"run = Journal({str(journal)!r}).start_run('wf', ['a'])\n"
        "run.step_completed(0, 'a', {}, {})\nprint(run.run_id)\n"
        "import os\nos._exit(0)\n"  # dies with its run open
    )
    run_id = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    Path(f"{journal}-shm").unlink()  # a new opener must create it: no room for it
    _fill(small_disk)
    kind, message, calls = _recover_in_a_new_process(run_id, journal)
    assert (kind, calls) == ("JournalError", [])
    assert f"Cannot open the run journal {journal}" in message
    assert "The disk it is on is full" in message
    assert "Nothing was lost" in message
    (small_disk / "filler").unlink()
    assert _recover_in_a_new_process(run_id, journal) == ("finished", "", ["a"])


class _DiskFullAt:
    """Stands in for ``append``: the ``at``-th write (0-based) fails with ENOSPC, part written."""

    def __init__(self, real: Any, at: int) -> None:
        self.real, self.at, self.count = real, at, 0

    def __call__(self, fd: int, data: bytes) -> None:
        self.count += 1
        if self.count - 1 == self.at:
            os.write(fd, data[: len(data) // 2])  # a frame cut short, as a full disk leaves it
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.real(fd, data)


@pytest.mark.parametrize(
    ("at", "first_calls", "unmarked"),
    [
        (0, [], None),  # c's "started" mark
        (1, ["c"], "c"),  # c's "done" mark: its rollback ran, unmarked
        (2, ["c"], None),  # b's "started" mark
        (6, ["c", "b", "a"], None),  # the run's end
    ],
)
def test_each_write_of_a_recovery_may_fail_and_the_next_one_finishes_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    at: int,
    first_calls: list[str],
    unmarked: str | None,
) -> None:
    import synapse_steps.journal._recovery as recovery_module

    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.start_run("wf", ["a", "b", "c"])
    for i, name in enumerate("abc"):
        run.step_completed(i, name, {}, {})
    run._finalizer()
    calls: list[str] = []
    monkeypatch.setattr(recovery_module, "append", _DiskFullAt(recovery_module.append, at))
    with pytest.raises(JournalError, match="Nothing was lost") as caught:
        recover_steps(run.run_id, lambda name, *_: calls.append(name), journal.path)
    assert calls == first_calls
    message = str(caught.value)
    assert "call recover() again" in message
    if unmarked is not None:
        assert f"rollback of {unmarked!r} returned but could not be marked" in message
    monkeypatch.undo()
    report = recover_steps(run.run_id, lambda name, *_: calls.append(name), journal.path)
    expected_again = [unmarked] if unmarked else []
    assert calls == first_calls + expected_again + [n for n in "cba" if n not in first_calls]
    assert report.retried == tuple(expected_again)
    assert unfinished_runs(journal.path) == []
    (log,) = stored.logs(journal.path)
    assert [e["rollback"] for e in log.entries()] == ["done"] * 3


def test_abandon_on_a_full_disk_changes_nothing_and_can_be_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import synapse_steps.journal._recovery as recovery_module

    journal = tmp_path / "j.sqlite3"
    run_id = _many_steps_dead(journal, 2)
    monkeypatch.setattr(recovery_module, "append", _DiskFullAt(recovery_module.append, 0))
    with pytest.raises(JournalError, match=r"(?s)Cannot abandon.*No space left.*again"):
        abandon(run_id, journal)
    monkeypatch.undo()
    assert [info.run_id for info in unfinished_runs(journal)] == [run_id]
    abandon(run_id, journal)
    assert unfinished_runs(journal) == []
