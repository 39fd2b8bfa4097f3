"""The journal wired into ``Orchestrator``: on by default, ``journal=path`` / ``False``, kept
runs and ``resume()``, ``recover()`` through a rebuilt registry, the notice about a dead run,
unstorable values and unwritable journals, and four processes journaling at once."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import stat
import threading
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import orchestrator_child
import pytest
from orchestrator_child import WORKFLOW, FileStep, context, lines, registry

from synapse_steps import JournalError, SynapseStepsError
from synapse_steps.context import RuntimeContext
from synapse_steps.events import StepFailed
from synapse_steps.journal import JournalError as LayerJournalError
from synapse_steps.journal import (
    UnfinishedRunWarning,
    abandon,
    recover,
    run_records,
    unfinished_runs,
)
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(["orchestrator_child"])


def _spawn(*args: str) -> Any:
    ready = _CONTEXT.Event()
    proc = _CONTEXT.Process(target=orchestrator_child.entry, args=(list(args), ready))
    proc.start()
    assert ready.wait(timeout=60), "the child did not start"
    return proc


def _sides(work: Path) -> set[str]:
    return {p.name.removeprefix("side_") for p in work.glob("side_*")}


def _orchestrator(work: Path, journal: Any = True, steps: int = 3, fail_at: int = -1) -> Any:
    return Orchestrator(registry(work, steps, fail_at), context(), name=WORKFLOW, journal=journal)


def _kept_run_killed(tmp_path: Path) -> tuple[Path, Path, str]:
    """A child keeps s00, s01 (s02 fails, on_failure="keep") and is then killed."""
    journal, work = tmp_path / "j.sqlite3", tmp_path / "work"
    work.mkdir()
    proc = _spawn("keep", str(journal), str(work))
    while not lines(work / "ended.log"):
        time.sleep(0.005)
    (info,) = unfinished_runs(journal)
    assert info.owner_alive  # kept: the live kernel still owns it
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    return journal, work, info.run_id


def test_journal_is_on_by_default_in_the_store_root(tmp_path: Path) -> None:
    home = Path(os.environ["SYNAPSE_STEPS_HOME"])
    assert not (home / "journal.sqlite3").exists()
    orch = _orchestrator(tmp_path)
    assert not (home / "journal.sqlite3").exists()  # no I/O at construction
    orch.execute()
    assert unfinished_runs() == []
    records = run_records(orch._journal_subscriber.journal_run_ids[-1])
    types = [r["type"] for r in records]
    assert types[0] == "RunStarted"
    assert types[-1] == "RunFinished"
    assert types.count("StepFinished") == 3
    progress = [r for r in records if r["type"] == "ProgressReported"]
    assert progress
    assert all(r["step"] in {"s00", "s01", "s02"} for r in progress)
    assert {r["step"] for r in progress} == {"s00", "s01", "s02"}
    assert [r["data"] for r in records if r["type"] == "Logged"] == [
        {"file": f"side_s0{i}"} for i in range(3)
    ]


def test_run_progress_is_derived_not_journaled(tmp_path: Path) -> None:
    # RunProgress follows from the StepFinished records and the plan: journaling it would
    # cost a record per step for nothing the journal's readers use.
    journal = tmp_path / "j.sqlite3"
    orch = _orchestrator(tmp_path, journal=journal)
    orch.execute()
    (run_id,) = orch._journal_subscriber.journal_run_ids
    records = run_records(run_id, path=journal)
    types = [r["type"] for r in records]
    assert "RunProgress" not in types
    assert [r["name"] for r in records if r["type"] == "StepFinished"] == ["s00", "s01", "s02"]
    assert records[0]["steps"]  # the plan, to derive the run's progress from


def test_journal_false_writes_nothing(tmp_path: Path) -> None:
    home = Path(os.environ["SYNAPSE_STEPS_HOME"])
    _orchestrator(tmp_path, journal=False).execute()
    assert not home.exists() or not any(home.iterdir())


def test_journal_path_is_used(tmp_path: Path) -> None:
    journal = tmp_path / "mine.sqlite3"
    orch = _orchestrator(tmp_path, journal=str(journal))
    orch.execute()
    assert journal.exists()
    assert not (Path(os.environ["SYNAPSE_STEPS_HOME"]) / "journal.sqlite3").exists()
    (run_id,) = orch._journal_subscriber.journal_run_ids
    assert run_records(run_id, path=journal)[-1]["status"] == "succeeded"


def test_journal_argument_is_checked(tmp_path: Path) -> None:
    with pytest.raises(SynapseStepsError, match="journal must be True"):
        _orchestrator(tmp_path, journal=3)


def test_journal_error_is_in_the_one_tree() -> None:
    assert LayerJournalError is JournalError
    assert issubclass(JournalError, SynapseStepsError)
    assert issubclass(JournalError, RuntimeError)


def test_step_failed_result_stays_local() -> None:
    result = StepResult(success=False, error="x")
    record = StepFailed(0, "a", "x", 0.1, 1.0, False, None, None, None, result)
    assert pickle.loads(pickle.dumps(record)).result is None
    from synapse_steps.events import to_dict

    assert "result" not in to_dict(record)


def test_failed_run_is_journaled_rolled_back_and_closed(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    with pytest.raises(RuntimeError):
        _orchestrator(tmp_path, journal=journal, steps=4, fail_at=2).execute()
    assert unfinished_runs(journal) == []
    assert _sides(tmp_path) == set()


class Unstorable(BaseStep[BaseStepContext]):
    name = "opener"
    progress_weight = 1.0

    def execute(self, context: BaseStepContext) -> StepResult:
        return StepResult(rollback_data={"lock": threading.Lock(), "ok": 1})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        pass


def test_unstorable_rollback_data_warns_once_and_the_run_goes_on(tmp_path: Path) -> None:
    reg = registry(tmp_path, 2)
    reg.register(Unstorable())
    orch = Orchestrator(reg, context(), name=WORKFLOW, journal=tmp_path / "j.sqlite3")
    with pytest.warns(RuntimeWarning) as caught:
        assert orch.execute()["success"]
    about = [w for w in caught if "journal" in str(w.message)]
    assert [w.filename for w in about] == [__file__]  # the user's execute() line
    messages = [str(w.message) for w in about]
    assert len(messages) == 1
    assert "'opener'" in messages[0]
    assert "rollback_data['lock']" in messages[0]
    assert "NOT recoverable" in messages[0]


def test_unwritable_journal_never_fails_the_run(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.access(locked, os.W_OK):  # root ignores permissions: use a path under a file
        target: Path = tmp_path / "a-file"
        target.write_text("")
        target = target / "journal.sqlite3"
    else:
        target = locked / "journal.sqlite3"
    try:
        for attempt in range(2):
            orch = _orchestrator(tmp_path / f"w{attempt}", journal=target)
            (tmp_path / f"w{attempt}").mkdir()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert orch.execute()["success"]
            about = [w for w in caught if "cannot be written" in str(w.message)]
            # Once per journal file and process: the second run is quiet.
            assert len(about) == (1 if attempt == 0 else 0), [str(w.message) for w in caught]
            if about:
                assert str(target) in str(about[0].message)
                assert about[0].filename == __file__
    finally:
        locked.chmod(stat.S_IRWXU)


def test_kept_run_stays_journaled_and_resume_closes_it(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    reg = registry(tmp_path, 4, fail_at=2)
    orch = Orchestrator(reg, context(), name=WORKFLOW, journal=journal)
    with pytest.raises(RuntimeError):
        orch.execute(on_failure="keep")
    (info,) = unfinished_runs(journal)
    assert info.owner_alive
    assert [s.name for s in info.completed_steps] == ["s00", "s01", "s02"]
    assert info.to_roll_back == ("s01", "s00")  # s02 was rolled back in the run
    reg.replace("s02", FileStep("s02", tmp_path))
    assert orch.resume()["success"]
    assert unfinished_runs(journal) == []
    (run_id,) = orch._journal_subscriber.journal_run_ids
    records = run_records(run_id, path=journal)
    assert [r["name"] for r in records if r["type"] == "StepReused"] == ["s00", "s01"]
    assert [r["status"] for r in records if r["type"] == "RunFinished"] == [
        "failed",
        "succeeded",
    ]
    assert _sides(tmp_path) == {"s00", "s01", "s02", "s03"}


def test_kept_run_rollback_closes_the_journal(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    orch = Orchestrator(registry(tmp_path, 4, 2), context(), name=WORKFLOW, journal=journal)
    with pytest.raises(RuntimeError):
        orch.execute(on_failure="keep")
    orch.rollback()
    assert unfinished_runs(journal) == []
    assert _sides(tmp_path) == set()


def test_execute_after_a_kept_run_closes_the_kept_one(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    orch = Orchestrator(registry(tmp_path, 4, 2), context(), name=WORKFLOW, journal=journal)
    with pytest.raises(RuntimeError):
        orch.execute(on_failure="keep")
    with pytest.raises(RuntimeError):
        orch.execute()
    assert unfinished_runs(journal) == []


def test_kept_run_of_a_dead_kernel_is_recovered(tmp_path: Path) -> None:
    journal, work, run_id = _kept_run_killed(tmp_path)
    assert _sides(work) == {"s00", "s01"}
    (info,) = unfinished_runs(journal)
    assert not info.owner_alive
    report = recover(run_id, registry(work, 4), context(), path=journal)
    assert report.rolled_back == ("s01", "s00")
    assert report.already_rolled_back == ("s02",)
    assert _sides(work) == set()
    assert Counter(lines(work / "deleted.log")) == {"s00": 1, "s01": 1, "s02": 1}
    with pytest.raises(JournalError, match="already recovered"):
        recover(run_id, registry(work, 4), context(), path=journal)


def test_recover_needs_the_steps_in_the_registry(tmp_path: Path) -> None:
    journal, work, run_id = _kept_run_killed(tmp_path)
    with pytest.raises(JournalError, match="no step named 's01'") as caught:
        recover(run_id, registry(work, 1), context(), path=journal)
    assert "'s00'" in str(caught.value)  # what the registry holds
    assert _sides(work) == {"s00", "s01"}  # nothing rolled back
    abandon(run_id, path=journal)
    assert unfinished_runs(journal) == []
    assert _sides(work) == {"s00", "s01"}


def test_notice_about_a_dead_run_once_with_the_commands(tmp_path: Path) -> None:
    journal, _work, run_id = _kept_run_killed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    orch = _orchestrator(other, journal=journal)
    with pytest.warns(UnfinishedRunWarning) as caught:
        orch.execute()
    (notice,) = [w for w in caught if issubclass(w.category, UnfinishedRunWarning)]
    text = str(notice.message)
    assert f"recover('{run_id}', registry, context, path={str(journal)!r})" in text
    assert f"abandon('{run_id}', path={str(journal)!r})" in text
    assert "from synapse_steps.journal import recover, abandon" in text
    assert "s00, s01" in text
    assert notice.filename == __file__  # points at the user's line
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        _orchestrator(other, journal=journal).execute()
    assert not [w for w in again if issubclass(w.category, UnfinishedRunWarning)]


def test_no_notice_for_another_workflow(tmp_path: Path) -> None:
    journal, _, _ = _kept_run_killed(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    orch = Orchestrator(registry(other, 2), context(), name="another", journal=journal)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        orch.execute()
    assert not [w for w in caught if issubclass(w.category, UnfinishedRunWarning)]


def test_four_processes_journal_at_once(tmp_path: Path) -> None:
    journal, work = tmp_path / "j.sqlite3", tmp_path / "work"
    work.mkdir()
    procs = [_spawn("concurrent", str(journal), str(work), "5", f"p{k}") for k in range(4)]
    (work / "go").write_text("")
    for proc in procs:
        proc.join(timeout=60)
        assert proc.exitcode == 0
    assert unfinished_runs(journal) == []
    for k in range(4):
        assert lines(work / f"p{k}.log") == [str(r) for r in range(5)]
    import sqlite3

    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT workflow, status FROM runs").fetchall()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert Counter(rows) == {(f"p{k}", "succeeded"): 5 for k in range(4)}
    assert len(_sides(work)) == 4 * 5 * 5


class _Stopper:
    """A front end whose hook raises KeyboardInterrupt before the journal hears the step."""

    def on_step_end(self, record: Any) -> None:
        raise KeyboardInterrupt


def test_interrupt_in_an_earlier_hook_closes_the_journal_quietly(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    ctx = context()
    ctx.runtime_ctx.recorder.subscribe(_Stopper())
    orch = Orchestrator(registry(tmp_path, 3), ctx, name=WORKFLOW, journal=journal)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(KeyboardInterrupt):
            orch.execute()
    assert unfinished_runs(journal) == []
    (run_id,) = orch._journal_subscriber.journal_run_ids
    assert run_records(run_id, path=journal)[-1]["status"] == "interrupted"
    assert _sides(tmp_path) == set()


def test_a_training_loop_s_metrics_are_journaled_in_order_with_its_logs(tmp_path: Path) -> None:
    class Fit(BaseStep[BaseStepContext]):
        name = "fit"
        progress_weight = 1.0

        def execute(self, context: BaseStepContext) -> StepResult:
            for i in range(2500):
                context.set_metrics({"loss": 1 / (i + 1), "step": i})
                if i % 700 == 350:  # mid-batch, not at a flush
                    context.log("checkpoint", {"at": i})
            context.set_metrics({"note": "text values stay plain records"})
            return StepResult()

    class Stream:
        def __init__(self) -> None:
            self.seen: list[Any] = []

        def on_metrics(self, record: Any) -> None:
            self.seen.append(("MetricsReported", record.category, record.values))

        def on_log(self, record: Any) -> None:
            self.seen.append(("Logged", record.event, record.data))

    reg = StepRegistry[BaseStepContext]()
    reg.register(Fit())
    stream = Stream()
    journal = tmp_path / "journal.sqlite3"
    ctx = BaseStepContext(runtime_ctx=RuntimeContext(logger=[stream]))
    orch = Orchestrator(reg, ctx, journal=journal)
    orch.execute()
    records = run_records(orch._journal_subscriber.journal_run_ids[-1], path=journal)
    journaled = [
        (r["type"], r["category"], r["values"])
        if r["type"] == "MetricsReported"
        else (r["type"], r["event"], r["data"])
        for r in records
        if r["type"] in ("MetricsReported", "Logged")
    ]
    assert journaled == stream.seen
    assert len(journaled) == 2500 + 4 + 1
