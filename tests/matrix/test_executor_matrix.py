"""Every option means the same on every executor.

Each scenario runs once with no executor (the reference) and once on the executor under test,
in the same test, and the two runs must agree on what users see and keep: the result or error,
the context afterwards, each step's status, the rollback order, the journal's records, the
progress callback's values, the records the driver's front ends heard and the plain logger's
calls. Times, run ids and traceback texts are left out (they differ by nature). The executors:
none, ``LocalExecutor()``, ``RayExecutor()`` on a local Ray and on a two-node cluster (see
``conftest.py``).
"""

from __future__ import annotations

import _thread
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from matrix_steps import Add, MatrixCtx

from synapse_steps import Orchestrator, RuntimeContext, StepRegistry
from synapse_steps.journal import run_records, unfinished_runs

#: Fields that differ by nature between two runs of the same workflow.
VARYING = {"time", "wall_time", "duration", "run_id", "traceback", "completed_at"}


class Heard:
    """A driver-side front end: the records it heard (no progress: coalesced by time), and the
    stop button pressed while the step named ``stop_at`` runs."""

    def __init__(self, stop_at: str | None) -> None:
        self.records: list[dict[str, Any]] = []
        self.stop_at = stop_at

    def _heard(self, record: Any) -> None:
        data = {"type": type(record).__name__}
        data.update(zip(record._fields, record, strict=True))
        self.records.append(_plain(data))

    on_run_start = on_step_skip = on_step_end = on_step_fail = on_rollback_start = _heard
    on_step_rollback = on_step_reuse = on_run_progress = on_run_end = on_log = _heard
    on_metrics = _heard

    def on_step_start(self, record: Any) -> None:
        self._heard(record)
        if record.name == self.stop_at:
            # As the notebook's stop button does: KeyboardInterrupt in the main thread.
            threading.Timer(0.3, _thread.interrupt_main).start()


class Calls:
    """A plain logger (log / set_progress / set_metrics): what a user's own logger receives."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def log(self, event: str, data: Any, file: str | None = None) -> None:
        self.calls.append(("log", event, dict(data), file))

    def set_progress(self, current: float, total: float, category: str | None = None) -> None:
        pass  # coalesced by time when the run is remote (as ProgressReported records are)

    def set_metrics(self, value: Any, category: str | None = None) -> None:
        self.calls.append(("set_metrics", dict(value), category))


def _plain(data: Any) -> Any:
    """``data`` without the fields that differ by nature, tuples as lists, live objects out."""
    if isinstance(data, dict):
        return {
            key: _plain(value)
            for key, value in data.items()
            if key not in VARYING and key not in ("result", "exception")
        }
    if isinstance(data, list | tuple):
        return [_plain(item) for item in data]
    return data


def _registry(*steps: Add) -> StepRegistry[MatrixCtx]:
    registry: StepRegistry[MatrixCtx] = StepRegistry()
    for step in steps:
        registry.register(step)
    return registry


def _call(call: Callable[[], Any]) -> Any:
    try:
        return ["returned", call()]
    except KeyboardInterrupt:
        return ["raised", "KeyboardInterrupt"]  # its message says where it was pressed
    except Exception as exc:
        return ["raised", type(exc).__name__, str(exc)]


def observe(
    executor: Any, folder: Path, scenario: str, *, journal: bool = True, name: str | None = None
) -> dict[str, Any]:
    """Run ``scenario`` on ``executor``; everything a user could look at afterwards."""
    stop_at = "b" if scenario == "stop" else None
    heard, calls, progress = Heard(stop_at), Calls(), []
    context = MatrixCtx(runtime_ctx=RuntimeContext(logger=[heard, calls]))
    path = folder / "journal.sqlite3"
    fails = {
        "succeeds": None,
        "fails": "raise",
        "says-no": "result",
        "keep-resume": "raise",
        "keep-rollback": "raise",
        "interrupt": "interrupt",
        "interrupt-in-can-skip": "interrupt-in-can-skip",
        "stop": "wait",
    }[scenario]
    registry = _registry(Add("a", 1, weight=2), Add("skipped", 5, "skip"), Add("b", 10, fails))
    registry.register(Add("c", 100))
    orchestrator = Orchestrator(
        registry,
        context,
        lambda current, total: progress.append((current, total)),
        name=name,
        journal=path if journal else False,
        executor=executor,
    )
    seen: dict[str, Any] = {}
    if scenario.startswith("keep"):
        seen["first"] = _call(lambda: orchestrator.execute(on_failure="keep"))
        seen["kept"] = [
            (info.workflow, [(s.name, s.recoverable, s.rollback) for s in info.completed_steps])
            for info in unfinished_runs(path)
        ]
        if scenario == "keep-resume":
            registry.replace("b", Add("b", 10))
            seen["then"] = _call(orchestrator.resume)
        else:
            seen["then"] = _call(orchestrator.rollback)
    else:
        seen["first"] = _call(orchestrator.execute)
    state = context.runtime_ctx.recorder.run
    seen["context"] = {
        "total": context.total,
        "done": context.done,
        "rolled back, in order": context.undone,
        "errors": context.errors,
        "step_results": [(r.success, r.skipped, r.error) for r in context.step_results],
    }
    seen["steps"] = [(s.name, s.label) for s in state.steps]
    seen["outcome"] = state.outcome()
    seen["callback"] = progress
    seen["heard"] = heard.records
    seen["plain logger"] = calls.calls
    seen["journal"] = _journal(path, orchestrator)
    seen["unfinished afterwards"] = [info.run_id for info in unfinished_runs(path)]
    return seen


def _journal(path: Path, orchestrator: Orchestrator[Any]) -> Any:
    if not path.exists():
        return None
    writer: Any = orchestrator._journal_subscriber
    return [_plain(run_records(run_id, path)) for run_id in writer.journal_run_ids]


SCENARIOS = [
    "succeeds",
    "fails",
    "says-no",
    "keep-resume",
    "keep-rollback",
    "interrupt",
    "interrupt-in-can-skip",
    "stop",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_option_means_the_same_on_every_executor(
    executor: Any, scenario: str, tmp_path: Path
) -> None:
    expected = observe(None, tmp_path / "reference", scenario)
    seen = observe(executor, tmp_path / "run", scenario)
    assert seen == expected
    # The reference itself is what the scenario says (a matrix of equal wrong answers fails).
    assert expected["journal"]
    assert expected["unfinished afterwards"] == []
    outcome = {
        "succeeds": "succeeded - 3 of 4 steps executed, 1 skipped",
        "fails": "failed at 'b' - rolled back 2 steps",
        "says-no": "failed at 'b' - rolled back 2 steps",
        "keep-resume": "succeeded - 2 of 4 steps executed, 1 reused, 1 skipped",
        "keep-rollback": "failed at 'b' - rolled back 2 steps",
        "interrupt": "interrupted at 'b' - rolled back 2 steps",
        "interrupt-in-can-skip": "interrupted at 'b' - rolled back 1 step",
        "stop": "interrupted at 'b' - rolled back 2 steps",
    }[scenario]
    assert expected["outcome"] == outcome
    if scenario in ("fails", "interrupt", "stop", "keep-rollback"):
        assert expected["context"]["rolled back, in order"] == ["b", "a"]
        assert expected["context"]["total"] == 10  # b's failure result undoes nothing
    if scenario == "interrupt-in-can-skip":
        # The steps before it are rolled back, and say so (issue 17, item 11).
        assert expected["steps"] == [
            ("a", "rolled back"),
            ("skipped", "skipped"),
            ("b", "interrupted"),
            ("c", "not run"),
        ]
    if scenario == "keep-rollback":
        assert expected["kept"] == [("MatrixCtx", [("a", True, None), ("b", True, "done")])]


@pytest.mark.parametrize("journal", [False, True])
def test_journal_off_or_on_a_path_and_a_name_hold_on_every_executor(
    executor: Any, journal: bool, tmp_path: Path
) -> None:
    expected = observe(None, tmp_path / "reference", "fails", journal=journal, name="nightly")
    seen = observe(executor, tmp_path / "run", "fails", journal=journal, name="nightly")
    assert seen == expected
    # journal=False writes nothing; a path journals there, under the given workflow name.
    assert (tmp_path / "run").exists() is journal
    if journal:
        (records,) = seen["journal"]
        assert records[0]["type"] == "RunStarted"
        assert records[0]["workflow"] == "nightly"
    assert seen["heard"][0]["workflow"] == "nightly"
