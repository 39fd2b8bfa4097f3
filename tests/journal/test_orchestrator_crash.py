"""kill -9 of a process running a real ``Orchestrator`` (journal on), then ``recover()``.

Each trial forks ``orchestrator_child.py``: a workflow of file-making steps (sometimes one of
them fails, so the run rolls back in-process), SIGKILLed at a random moment: during a step,
between steps, during its rollback, during a journal write. The next process must then find:

* the run listed as unfinished with exactly the steps that completed: every step whose
  ``execute`` returned, except at most the last one (killed between its return and the commit),
  and nothing else, in order;
* after ``recover()`` (through a registry rebuilt in this process), no file of a journaled step
  left, no file deleted twice, the run gone from ``unfinished_runs`` and a second recovery
  refused. The only file that may remain is that of the step that was executing when the
  process died: its result never reached the journal, so nothing can know to undo it.

A second test kills the recovery itself at random and recovers again.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections import Counter
from multiprocessing.process import BaseProcess
from pathlib import Path

import orchestrator_child
import pytest
from orchestrator_child import WORKFLOW, lines

from synapse_steps.journal import JournalError, recover, unfinished_runs

STEPS = 8

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["orchestrator_child"])


def _spawn(*args: str) -> BaseProcess:
    ready = _CONTEXT.Event()
    proc = _CONTEXT.Process(target=orchestrator_child.entry, args=(list(args), ready))
    proc.start()
    assert ready.wait(timeout=60), "the child did not start"
    return proc


def _kill_after(proc: BaseProcess, seconds: float) -> bool:
    proc.join(timeout=seconds)
    if proc.exitcode is None:
        proc.kill()
        proc.join()
    assert proc.exitcode in (0, -signal.SIGKILL), proc.exitcode
    return proc.exitcode != 0


def _side_files(work: Path) -> set[str]:
    return {p.name.removeprefix("side_") for p in work.glob("side_*")}


def _recover_here(run_id: str, journal: Path, work: Path) -> None:
    reg = orchestrator_child.registry(work, STEPS)
    recover(run_id, reg, orchestrator_child.context(), path=journal)


def _check_trial(journal: Path, work: Path) -> str:
    """Check one killed (or finished) run, recover it; returns what the kill hit."""
    started, returned = lines(work / "started.log"), lines(work / "returned.log")
    runs = [r for r in unfinished_runs(journal) if r.workflow == WORKFLOW]
    if not runs:
        # Never journaled (killed before start_run committed), or it ended: succeeded with
        # every file in place, or failed and rolled back every file.
        assert _side_files(work) in (set(), set(orchestrator_child.names(STEPS)))
        if lines(work / "ended.log"):
            return "finished"
        return "before the run" if not started else "finished (not logged)"
    (info,) = runs
    assert not info.owner_alive
    assert list(info.steps) == orchestrator_child.names(STEPS)
    ok = [s.name for s in info.completed_steps if s.success]
    failed = [s.name for s in info.completed_steps if not s.success]
    # Exactly the steps that completed: their commit precedes the next step's start.
    assert ok in (returned, returned[:-1]), (ok, returned)
    assert [s.position for s in info.completed_steps] == list(range(len(info.completed_steps)))
    assert failed in ([], started[len(ok) : len(ok) + 1])
    assert all(s.recoverable for s in info.completed_steps)
    done_before = {s.name for s in info.completed_steps if s.rollback == "done"}
    calls_before = Counter(lines(work / "calls.log"))
    _recover_here(info.run_id, journal, work)
    journaled = ok + failed
    calls = Counter(lines(work / "calls.log"))
    # Rolled back in the run already: never called again.
    assert all(calls[n] == calls_before[n] for n in done_before)
    assert all(calls[n] >= 1 for n in journaled)
    # No file deleted twice, none of a journaled step left.
    assert set(Counter(lines(work / "deleted.log")).values()) <= {1}
    assert not _side_files(work) & set(journaled)
    assert _side_files(work) <= set(started[len(journaled) :])
    assert [r for r in unfinished_runs(journal) if r.run_id == info.run_id] == []
    with pytest.raises(JournalError, match="already recovered"):
        _recover_here(info.run_id, journal, work)
    if (started and started[-1] in failed) or done_before:
        return "during the rollback"
    return f"after {len(ok)} steps"


@pytest.mark.slow
def test_kill_9_a_running_orchestrator_then_recover(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("JOURNAL_CRASH_SEED", "20261202")))
    # Calibration: how long a whole run takes (the second: the first starts the fork server).
    for calib in ("calib1", "calib2"):
        work = tmp_path / calib
        work.mkdir()
        began = time.monotonic()
        proc = _spawn("run", str(tmp_path / "calib.sqlite3"), str(work), str(STEPS), "-1", "2")
        assert not _kill_after(proc, 60.0)
    window = (time.monotonic() - began) * 1.2
    outcomes: Counter[str] = Counter()
    for trial in range(60):
        journal = tmp_path / f"j{trial}.sqlite3"
        work = tmp_path / f"t{trial}"
        work.mkdir()
        # Three ways to time the kill, so that a loaded machine still spreads them: at a
        # random moment of the run; a little after the k-th step started; during the
        # rollback of a failed run.
        how = trial % 3
        fail_at = rng.randrange(3, STEPS) if how == 2 or rng.random() < 0.3 else -1
        proc = _spawn("run", str(journal), str(work), str(STEPS), str(fail_at), "2")
        if how == 0:
            _kill_after(proc, rng.uniform(0, window))
        else:
            log, count = (
                (work / "started.log", rng.randrange(STEPS + 1))
                if how == 1
                else (work / "calls.log", 1)
            )
            while len(lines(log)) < count and proc.is_alive():
                time.sleep(0.0005)
            _kill_after(proc, rng.uniform(0, 0.003))
        outcomes[_check_trial(journal, work)] += 1
    # The kills landed at many different points of the runs.
    assert len(outcomes) >= 6, outcomes
    assert outcomes["during the rollback"] >= 1, outcomes


@pytest.mark.slow
def test_kill_9_during_recover_then_recover_again(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("JOURNAL_CRASH_SEED", "20261202")) + 1)
    trials = 0
    for trial in range(15):
        journal = tmp_path / f"j{trial}.sqlite3"
        work = tmp_path / f"t{trial}"
        work.mkdir()
        proc = _spawn("run", str(journal), str(work), str(STEPS), "-1", "1")
        while len(lines(work / "started.log")) < 5 and proc.is_alive():
            time.sleep(0.001)
        proc.kill()
        proc.join()
        runs = unfinished_runs(journal)
        if not runs:
            continue
        (info,) = runs
        journaled = [s.name for s in info.completed_steps]
        trials += 1
        rec = _spawn("recover", str(journal), str(work), info.run_id, str(STEPS), "4")
        _kill_after(rec, rng.uniform(0, 0.004 * len(journaled)))
        if unfinished_runs(journal):
            _recover_here(info.run_id, journal, work)
        # Each file deleted once at most, none of a journaled step left, run closed.
        assert set(Counter(lines(work / "deleted.log")).values()) <= {1}
        assert not _side_files(work) & set(journaled)
        assert unfinished_runs(journal) == []
        calls = Counter(lines(work / "calls.log"))
        # A rollback is called again only if the killed recovery was inside it.
        assert sum(calls.values()) <= len(journaled) + 1
    assert trials >= 10
