"""kill -9 of runs and recoveries whose step names, workflow name and rollback errors are not
valid UTF-8 (lone surrogates, see ``hostile_child``).

The first test kills a real ``Orchestrator`` at random points (during a step, between steps,
during its own rollback after a failure), then recovers the run here; the second kills the
recovery itself at random and recovers again. Every trial checks, with the names compared
exactly: the run is listed with exactly the steps that completed; each rollback marked done
(returned, or raised: its error is kept exactly) is never called again; only a rollback a kill
cut short is called a second time; no file of a journaled step is left, none deleted twice;
the run ends ``recovered`` and a second recovery is refused.
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

import hostile_child
import pytest
import stored
from hostile_child import WORKFLOW, failing, lines, names, side, undo_error

from synapse_steps.journal import JournalError, recover, run_records, unfinished_runs

STEPS = 6

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["hostile_child"])


def _spawn(*args: str) -> BaseProcess:
    ready = _CONTEXT.Event()
    proc = _CONTEXT.Process(target=hostile_child.entry, args=(list(args), ready))
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


def _left(work: Path, journaled: list[str]) -> set[str]:
    """The journaled steps whose file is still there."""
    return {name for name in journaled if side(work, name).exists()}


def _recover_here(run_id: str, journal: Path, work: Path) -> None:
    recover(run_id, hostile_child.registry(work, STEPS), hostile_child.context(), path=journal)


def _check_recovered(run_id: str, journal: Path, work: Path, journaled: list[str]) -> None:
    """After the last recovery: nothing left, nothing deleted twice, errors kept exactly."""
    assert not _left(work, journaled)
    assert set(Counter(lines(work / "deleted.log")).values()) <= {1}
    assert [r for r in unfinished_runs(journal) if r.run_id == run_id] == []
    with pytest.raises(JournalError, match="already recovered"):
        _recover_here(run_id, journal, work)
    (log,) = [log for log in stored.logs(journal) if log.run_id == run_id]
    assert log.workflow == WORKFLOW
    bad = failing(STEPS)
    for entry in log.entries():
        if entry["position"] is None:
            continue
        name = entry["name"]
        assert entry["rollback"] == "done", name
        assert entry["rollback_error"] == (undo_error(name) if name in bad else None), name
    finished = [r["name"] for r in run_records(run_id, journal) if r["type"] == "StepFinished"]
    assert finished == [n for n in names(STEPS) if n in finished]


@pytest.mark.slow
def test_kill_9_runs_with_hostile_names_then_recover(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("JOURNAL_CRASH_SEED", "20261203")))
    for calib in ("calib1", "calib2"):  # the second: the first also starts the fork server
        work = tmp_path / calib
        work.mkdir()
        began = time.monotonic()
        proc = _spawn("run", str(tmp_path / "calib.sqlite3"), str(work), str(STEPS), "-1", "2")
        assert not _kill_after(proc, 60.0)
    window = (time.monotonic() - began) * 1.2
    outcomes: Counter[str] = Counter()
    bad = failing(STEPS)
    killed = 0
    for trial in range(48):
        journal, work = tmp_path / f"j{trial}.sqlite3", tmp_path / f"t{trial}"
        work.mkdir()
        how = trial % 3
        fail_at = rng.randrange(2, STEPS) if how == 2 or rng.random() < 0.3 else -1
        proc = _spawn("run", str(journal), str(work), str(STEPS), str(fail_at), "2")
        if how == 0:
            killed += _kill_after(proc, rng.uniform(0, window))
        else:
            log, count = (
                (work / "started.log", rng.randrange(STEPS + 1))
                if how == 1
                else (work / "calls.log", 1)
            )
            while len(lines(log)) < count and proc.is_alive():
                time.sleep(0.0005)
            killed += _kill_after(proc, rng.uniform(0, 0.003))
        started, returned = lines(work / "started.log"), lines(work / "returned.log")
        runs = [r for r in unfinished_runs(journal) if r.workflow == WORKFLOW]
        if not runs:
            outcomes["finished" if lines(work / "ended.log") or started else "before the run"] += 1
            continue
        (info,) = runs
        assert not info.owner_alive
        assert list(info.steps) == names(STEPS)
        ok = [s.name for s in info.completed_steps if s.success]
        failed = [s.name for s in info.completed_steps if not s.success]
        assert ok in (returned, returned[:-1]), (ok, returned)
        assert failed in ([], started[len(ok) : len(ok) + 1])
        done_before = {s.name for s in info.completed_steps if s.rollback == "done"}
        for s in info.completed_steps:
            if s.rollback == "done":
                assert s.rollback_error == (undo_error(s.name) if s.name in bad else None)
        calls_before = Counter(lines(work / "calls.log"))
        _recover_here(info.run_id, journal, work)
        calls = Counter(lines(work / "calls.log"))
        journaled = ok + failed
        # Marked done in the run (returned or raised): never called again; every other one at
        # least once, and twice only if the kill cut its rollback in the run short.
        assert all(calls[n] == calls_before[n] for n in done_before)
        cut = {s.name for s in info.completed_steps if s.rollback == "started"}
        assert all(1 <= calls[n] <= 1 + (n in cut) for n in journaled if n not in done_before)
        _check_recovered(info.run_id, journal, work, journaled)
        rolling = bool(done_before or cut or failed)
        outcomes["during the rollback" if rolling else f"after {len(ok)} steps"] += 1
    assert killed >= 28, outcomes
    assert len(outcomes) >= 5, outcomes
    assert outcomes["during the rollback"] >= 1, outcomes


@pytest.mark.slow
def test_kill_9_recoveries_of_hostile_names_then_recover_again(tmp_path: Path) -> None:
    rng = random.Random(int(os.environ.get("JOURNAL_CRASH_SEED", "20261203")) + 1)
    recoveries_killed = runs_killed = 0
    for trial in range(16):
        journal, work = tmp_path / f"j{trial}.sqlite3", tmp_path / f"t{trial}"
        work.mkdir()
        proc = _spawn("run", str(journal), str(work), str(STEPS), "-1", "1")
        while len(lines(work / "started.log")) < STEPS - 1 and proc.is_alive():
            time.sleep(0.0005)
        runs_killed += _kill_after(proc, 0)
        runs = unfinished_runs(journal)
        if not runs:
            continue
        (info,) = runs
        journaled = [s.name for s in info.completed_steps]
        # Recovery with ~2 ms per rollback, killed somewhere inside it.
        rec = _spawn("recover", str(journal), str(work), info.run_id, str(STEPS), "4")
        recoveries_killed += _kill_after(rec, rng.uniform(0, 0.003 * len(journaled)))
        calls_then = Counter(lines(work / "calls.log"))
        left = [r for r in unfinished_runs(journal) if r.run_id == info.run_id]
        state = {s.name: s.rollback for s in left[0].completed_steps} if left else {}
        if left:
            _recover_here(info.run_id, journal, work)
        calls = Counter(lines(work / "calls.log"))
        done_then = {n for n, st in state.items() if st == "done"}
        cut = {n for n, st in state.items() if st == "started"}
        assert len(cut) <= 1
        # Nothing marked done is called again; only the rollback the kill cut short is.
        assert all(calls[n] == calls_then[n] for n in done_then)
        assert all(calls[n] == 1 for n in journaled if n not in cut)
        assert all(calls[n] <= 2 for n in cut)
        _check_recovered(info.run_id, journal, work, journaled)
    assert runs_killed >= 14
    assert recoveries_killed >= 10
