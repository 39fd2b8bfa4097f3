"""kill -9 at random points of a journaled run, and of its recovery; then recover.

Each trial runs ``journal_child.py`` (a workflow that creates one file per step and journals
``{'path': Path(...)}`` as its rollback data) and SIGKILLs it at a random moment of its run,
timed from the child's ``ready`` line. What the next process must then see:

* the run listed as unfinished (unless it finished), with exactly the steps whose
  ``step_completed`` returned, plus at most the one whose call was in progress (a kill in the
  middle of that commit either keeps or drops the whole step: never half of it);
* ``recover_steps`` deleting every journaled step's file exactly once and leaving no file of a
  journaled step; the only file that may remain is the step that was executing when the process
  died (its result never reached the journal, so nothing can know to undo it);
* a second recovery refused; the journal file intact (``PRAGMA integrity_check``).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
from collections import Counter
from multiprocessing.process import BaseProcess
from pathlib import Path

import journal_child
import pytest
from journal_child import rollback_deleting

from synapse_steps.journal import JournalError, recover_steps, unfinished_runs

STEPS = 12


def _lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


# Children are forked from a server that has imported journal_child (and so synapse_steps):
# each is a separate process with its own SQLite connection, started in milliseconds.
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["journal_child"])


def _spawn(*args: str) -> BaseProcess:
    ready = _CONTEXT.Event()
    proc = _CONTEXT.Process(target=journal_child.entry, args=(list(args), ready))
    proc.start()
    assert ready.wait(timeout=60), "the child did not start"
    return proc


def _kill_after(proc: BaseProcess, seconds: float) -> bool:
    """SIGKILL ``proc`` after ``seconds`` unless it ended; True if it was killed."""
    proc.join(timeout=seconds)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
    # 0 too when the child ended between the timeout and the kill.
    assert proc.exitcode in (0, -signal.SIGKILL), proc.exitcode
    return proc.exitcode != 0


def _integrity_ok(journal: Path) -> None:
    with sqlite3.connect(journal) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _crash_run(
    journal: Path, work: Path, rng: random.Random, window: float, mode: str = "run"
) -> bool:
    work.mkdir()
    proc = _spawn(mode, str(journal), str(work), str(STEPS), "2", "5")
    return _kill_after(proc, rng.uniform(0, window))


def _check_listing(journal: Path, work: Path) -> list[str] | None:
    """The journaled steps of the trial's run, checked against the child's own logs;
    ``None`` when the run finished (``finish`` committed, whether or not the child logged it)."""
    before, after = _lines(work / "before.log"), _lines(work / "after.log")
    run_id = (work / "run_id").read_text() if (work / "run_id").exists() else None
    # Side runs (see journal_child's run-checkpointing) are another workflow's.
    runs = [r for r in unfinished_runs(journal) if r.workflow != "side"]
    if _lines(work / "finished.log") or (run_id is not None and not runs):
        assert runs == []
        assert after == before == [f"s{i:02d}" for i in range(STEPS)]
        return None
    if run_id is None:
        # Killed inside start_run or just after it: the run, if committed, has no steps.
        assert all(not r.completed_steps for r in runs)
        return []
    (info,) = runs
    assert info.run_id == run_id
    assert info.workflow == "crashy"
    assert not info.owner_alive
    journaled = [s.name for s in info.completed_steps]
    assert [s.position for s in info.completed_steps] == list(range(len(journaled)))
    assert journaled in (after, before), (journaled, after, before)
    assert all(s.recoverable and s.rollback is None for s in info.completed_steps)
    return journaled


def _side_files(work: Path) -> set[str]:
    return {p.name.removeprefix("side_") for p in work.glob("side_*")}


@pytest.mark.slow
def test_kill_9_at_random_points_then_recover(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("JOURNAL_CRASH_SEED", "20261201")))
    # Calibration: how long a whole run takes here (the second of two: the first one also
    # starts the fork server), so the kills spread over all of it.
    for calib in ("calib1", "calib2"):
        started = time.monotonic()
        assert not _crash_run(tmp_path / f"{calib}.sqlite3", tmp_path / calib, rng, 60.0)
    window = (time.monotonic() - started) * 1.1
    outcomes: Counter[str] = Counter()
    for trial in range(50):
        journal = tmp_path / f"j{trial}.sqlite3"
        work = tmp_path / f"t{trial}"
        killed = _crash_run(journal, work, rng, window)
        listed = _check_listing(journal, work)
        _integrity_ok(journal)
        if not killed or listed is None:
            outcomes["finished"] += 1
            continue
        journaled = listed
        if not (work / "run_id").exists():
            outcomes["before the run started"] += 1
            continue
        outcomes[f"after {len(journaled)} steps"] += 1
        run_id = (work / "run_id").read_text()
        report = recover_steps(run_id, rollback_deleting(work, 0), path=journal)
        assert list(report.rolled_back) == journaled[::-1]
        assert report.errors == report.not_recoverable == report.already_rolled_back == ()
        assert Counter(_lines(work / "calls.log")) == Counter(journaled)
        assert sorted(_lines(work / "deleted.log")) == sorted(journaled)
        # Only the step that was executing (file made, result not journaled) may be left.
        assert _side_files(work) <= {f"s{len(journaled):02d}"}
        assert unfinished_runs(journal) == []
        with pytest.raises(JournalError, match="already recovered"):
            recover_steps(run_id, rollback_deleting(work, 0), path=journal)
    # The random kills did land at many different points of the run.
    assert len(outcomes) >= 6, outcomes


@pytest.mark.slow
def test_kill_9_during_background_checkpoints_then_recover(tmp_path: Path) -> None:
    # After each step the child journals a whole side run and checkpoints in its background
    # thread (every fifth side run gives the fold and the checkpoint megabytes to copy), so
    # kills land inside folds and checkpoints too: the journal must still list exactly the
    # journaled steps, recover them and check intact.
    rng = random.Random(int(os.environ.get("JOURNAL_CRASH_SEED", "20261201")) + 1)
    killed_mid_run = 0
    for trial in range(12):
        journal, work = tmp_path / f"j{trial}.sqlite3", tmp_path / f"t{trial}"
        work.mkdir()
        proc = _spawn("run-checkpointing", str(journal), str(work), str(STEPS), "2", "5")
        # Killed once a random number of steps were journaled, a few ms later (timed from the
        # run's own progress, not from its start: a loaded machine must not skew the kills).
        wanted = rng.randint(2, STEPS - 2)
        deadline = time.monotonic() + 60
        while len(_lines(work / "after.log")) < wanted and time.monotonic() < deadline:
            time.sleep(0.001)
        killed = _kill_after(proc, rng.uniform(0, 0.003))
        listed = _check_listing(journal, work)
        _integrity_ok(journal)
        if not killed or listed is None:  # the last steps were quicker than the delay
            continue
        killed_mid_run += 1
        assert len(listed) >= wanted
        run_id = (work / "run_id").read_text()
        report = recover_steps(run_id, rollback_deleting(work, 0), path=journal)
        assert list(report.rolled_back) == listed[::-1]
        assert sorted(_lines(work / "deleted.log")) == sorted(listed)
        assert _side_files(work) <= {f"s{len(listed):02d}"}
        assert [r.workflow for r in unfinished_runs(journal)] in ([], ["side"])
    assert killed_mid_run >= 8


@pytest.mark.slow
def test_kill_9_during_recovery_then_recover_again(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("JOURNAL_CRASH_SEED", "20261201")) + 1)
    trials = 0
    for trial in range(25):
        journal = tmp_path / f"j{trial}.sqlite3"
        work = tmp_path / f"t{trial}"
        work.mkdir()
        # A run killed once most steps are journaled.
        proc = _spawn("run", str(journal), str(work), str(STEPS), "0", "0")
        while len(_lines(work / "after.log")) < 6 and proc.is_alive():
            time.sleep(0.001)
        proc.kill()
        proc.join()
        listed = _check_listing(journal, work)
        if not listed:  # it finished before the kill
            continue
        journaled = listed
        trials += 1
        run_id = (work / "run_id").read_text()
        # Recovery with ~2 ms per rollback, killed somewhere inside it.
        rec = _spawn("recover", str(journal), str(work), run_id, "4")
        recovery_killed = _kill_after(rec, rng.uniform(0, 0.003 * len(journaled)))
        _integrity_ok(journal)
        calls_then = Counter(_lines(work / "calls.log"))
        if not recovery_killed:
            assert unfinished_runs(journal) == []
            assert calls_then == Counter(journaled)
            continue
        runs = unfinished_runs(journal)
        if not runs:  # killed after the run was marked recovered: nothing left to do
            assert calls_then == Counter(journaled)
            continue
        (info,) = runs
        state = {s.name: s.rollback for s in info.completed_steps}
        report = recover_steps(run_id, rollback_deleting(work, 0), path=journal)
        calls = Counter(_lines(work / "calls.log"))
        done_then = {name for name, st in state.items() if st == "done"}
        started_then = {name for name, st in state.items() if st == "started"}
        assert len(started_then) <= 1
        # A step marked rolled back is never called again ...
        assert all(calls[name] == calls_then[name] == 1 for name in done_then)
        assert set(report.already_rolled_back) == done_then
        # ... one whose rollback was cut short is called again (idempotent rollbacks) ...
        assert set(report.retried) == started_then
        # ... and every other journaled step is rolled back exactly once.
        assert all(calls[name] == 1 for name in journaled if name not in started_then)
        assert all(calls[name] <= 2 for name in started_then)
        # Each file was really deleted once (the child logs a deletion after it: a kill in
        # between loses the line of the step cut short), and none of a journaled step is left.
        deleted = Counter(_lines(work / "deleted.log"))
        assert set(deleted.values()) <= {1}
        assert set(journaled) - set(deleted) <= started_then
        assert not _side_files(work) & set(journaled)
        assert unfinished_runs(journal) == []
    assert trials >= 20
