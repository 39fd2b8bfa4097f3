"""Values a step may hand the journal that are legal Python but awkward to store.

Text that is not valid UTF-8 (a lone surrogate: what ``os.listdir`` gives for a file name's
undecodable byte, or an exception message built from one), a ``rollback_data`` that is not a
dict, and values nested too deeply for JSON. None of them may take the journal down, repeat a
rollback or lose what the step returned.
"""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path
from typing import Any

import pytest
import stored

from synapse_steps import RuntimeContext
from synapse_steps.journal import (
    Journal,
    JournalError,
    JournalRun,
    recover,
    recover_steps,
    run_records,
    unfinished_runs,
)
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

#: A file name whose last byte is not UTF-8, as Python decodes it (``os.fsdecode``).
ODD_NAME = "frame_\udcff.png"
#: A lone high surrogate: not even ``surrogateescape`` can encode this one.
HIGH = "\ud800"


class Calls:
    """A ``recover_steps`` rollback that remembers its calls and raises where told."""

    def __init__(self, fail: dict[str, BaseException] | None = None) -> None:
        self.calls: list[tuple[str, Any, Any]] = []
        self.fail = fail or {}

    def __call__(self, name: str, data: Any, rollback_data: Any) -> None:
        self.calls.append((name, data, rollback_data))
        if name in self.fail:
            raise self.fail[name]

    @property
    def names(self) -> list[str]:
        return [call[0] for call in self.calls]


def _dead_run(journal: Journal, steps: list[str], workflow: str = "wf") -> JournalRun:
    run = journal.start_run(workflow, steps)
    for i, name in enumerate(steps):
        run.step_completed(i, name, {"i": i}, {"name": name})
    run._finalizer()  # its process "dies": the lock goes, the log stays
    return run


# -- text that is not valid UTF-8 -------------------------------------------------------------


class StrFails(Exception):
    def __str__(self) -> str:
        raise ValueError("no text for you")


@pytest.mark.parametrize(
    ("error", "text"),
    [
        (RuntimeError("bad \udcff name"), "RuntimeError: bad \udcff name"),
        (OSError(f"cannot remove {HIGH}"), f"OSError: cannot remove {HIGH}"),
        (StrFails(), "StrFails: <str() raised ValueError: no text for you>"),
    ],
)
def test_a_rollback_error_of_any_text_is_marked_and_that_rollback_never_called_again(
    tmp_path: Path, error: BaseException, text: str
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = _dead_run(journal, ["a", "b", "c"])
    rollback = Calls(fail={"c": error})
    report = recover_steps(run.run_id, rollback, journal.path)
    assert rollback.names == ["c", "b", "a"]
    assert report.errors == (f"c: {text}",)
    assert report.rolled_back == ("b", "a")
    with pytest.raises(JournalError, match="already recovered"):
        recover_steps(run.run_id, rollback, journal.path)
    assert rollback.names == ["c", "b", "a"]
    # Kept exactly as it was raised.
    (log,) = stored.logs(journal.path)
    errors = {e["name"]: e["rollback_error"] for e in log.entries()}
    assert errors == {"a": None, "b": None, "c": text}
    assert stored.rollback_calls(log) == {"a": 1, "b": 1, "c": 1}


class FileStep(BaseStep[BaseStepContext]):
    """Returns what it is given; its rollback notes each call (and raises ``undo_error``)."""

    progress_weight = 1.0

    def __init__(
        self,
        name: str,
        calls: list[tuple[str, Any]],
        *,
        rollback_data: Any = None,
        fail: bool = False,
        undo_error: BaseException | None = None,
        log: Any = None,
    ) -> None:
        self._name, self.calls, self.rollback_data = name, calls, rollback_data
        self.fail, self.undo_error, self.log = fail, undo_error, log

    @property
    def name(self) -> str:
        return self._name

    def execute(self, context: BaseStepContext) -> StepResult:
        if self.log is not None:
            context.log("value", {"v": self.log})
        if self.fail:
            raise RuntimeError(f"{self._name} fails")
        return StepResult(data={"name": self._name}, rollback_data=self.rollback_data)

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        self.calls.append((self._name, result.rollback_data))
        if self.undo_error is not None:
            raise self.undo_error


def _registry(*steps: FileStep) -> StepRegistry[BaseStepContext]:
    registry = StepRegistry[BaseStepContext]()
    for step in steps:
        registry.register(step)
    return registry


def _context() -> BaseStepContext:
    return BaseStepContext(runtime_ctx=RuntimeContext(display="off"))


def _kept_then_dead(orchestrator: Orchestrator[Any]) -> str:
    """Run with ``on_failure="keep"`` (the last step fails), then let the run's process "die"."""
    with pytest.raises(RuntimeError, match="fails"):
        orchestrator.execute(on_failure="keep")
    writer = orchestrator._journal_subscriber
    assert writer.run is not None, "the journal broke during the run"
    run_id = writer.run.run_id
    writer.run._finalizer()
    return run_id


def test_step_and_workflow_names_that_are_not_utf8_are_journaled_and_recovered(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "j.sqlite3"
    calls: list[tuple[str, Any]] = []
    names = [ODD_NAME, f"b{HIGH}", "c"]
    steps = [FileStep(n, calls, rollback_data={"file": n}) for n in names[:2]]
    registry = _registry(*steps, FileStep("c", calls, fail=True))
    workflow = f"images {ODD_NAME}"
    orchestrator = Orchestrator(registry, _context(), name=workflow, journal=journal)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "cannot be written": the journal stays on
        run_id = _kept_then_dead(orchestrator)
    (info,) = unfinished_runs(journal)
    assert (info.run_id, info.workflow, info.steps) == (run_id, workflow, tuple(names))
    assert info.to_roll_back == (names[1], names[0])
    records = run_records(run_id, journal)
    assert [r["name"] for r in records if r["type"] == "StepFinished"] == names[:2]
    assert records[0]["workflow"] == workflow
    calls.clear()
    report = recover(run_id, _registry(*steps), _context(), path=journal)
    assert report.rolled_back == (names[1], names[0])
    assert calls == [(names[1], {"file": names[1]}), (names[0], {"file": names[0]})]
    assert unfinished_runs(journal) == []
    # The store's row names the workflow readably (escaped); the log it keeps, exactly.
    with sqlite3.connect(journal) as conn:
        rows = conn.execute("SELECT workflow, status FROM runs").fetchall()
    assert rows == [("images frame_\\udcff.png", "recovered")]
    assert run_records(run_id, journal)[0]["workflow"] == workflow


def test_a_live_rollback_error_that_is_not_utf8_is_journaled(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    calls: list[tuple[str, Any]] = []
    registry = _registry(
        FileStep("a", calls, rollback_data={}, undo_error=OSError(f"gone: {ODD_NAME}")),
        FileStep("b", calls, fail=True),
    )
    orchestrator = Orchestrator(registry, _context(), name="wf", journal=journal)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="b fails"):
            orchestrator.execute()
    (run_id,) = orchestrator._journal_subscriber.journal_run_ids
    undone = [r for r in run_records(run_id, journal) if r["type"] == "StepRolledBack"]
    assert [(r["name"], r["error"]) for r in undone] == [
        ("b", None),
        ("a", f"OSError: gone: {ODD_NAME}"),
    ]
    assert stored.runs(journal) == [(run_id, "wf", "failed")]


# -- rollback_data that is not a dict ----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, [1, "two"], "a path as text", 7, (1, Path("x")), {"$t": "not a tag"}],
    ids=repr,
)
def test_rollback_data_that_is_not_a_dict_comes_back_as_given(tmp_path: Path, value: Any) -> None:
    journal = tmp_path / "j.sqlite3"
    calls: list[tuple[str, Any]] = []
    step = FileStep("a", calls, rollback_data=value)
    orchestrator = Orchestrator(
        _registry(step, FileStep("b", calls, fail=True)), _context(), name="wf", journal=journal
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_id = _kept_then_dead(orchestrator)
    (info,) = unfinished_runs(journal)
    assert [(s.name, s.recoverable) for s in info.completed_steps] == [("a", True), ("b", True)]
    calls.clear()
    report = recover(run_id, _registry(step), _context(), path=journal)
    assert report.rolled_back == ("a",)
    assert calls == [("a", value)]
    assert type(calls[0][1]) is type(value)


def test_rollback_data_that_cannot_be_stored_at_all_is_named_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.start_run("wf", ["a", "b"])
    with pytest.warns(RuntimeWarning, match=r"returned rollback_data: a builtins\.object"):
        assert run.step_completed(0, "a", {}, object()) is False  # type: ignore[arg-type]
    assert run.step_completed(1, "b", {}, None) is True  # type: ignore[arg-type]
    run._finalizer()
    rollback = Calls()
    report = recover_steps(run.run_id, rollback, journal.path)
    assert rollback.calls == [("b", {}, None)]
    assert report.not_recoverable == ("a",)


# -- values nested too deeply for JSON ---------------------------------------------------------


def _nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("depth", [1_000, 50_000])
def test_a_deeply_nested_logged_value_is_kept_as_its_type_and_repr(
    tmp_path: Path, depth: int
) -> None:
    journal = tmp_path / "j.sqlite3"
    calls: list[tuple[str, Any]] = []
    registry = _registry(
        FileStep("a", calls, rollback_data={"k": 1}, log=_nested(depth)),
        FileStep("b", calls, fail=True),
    )
    orchestrator = Orchestrator(registry, _context(), name="wf", journal=journal)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the journal stays on, and says nothing
        run_id = _kept_then_dead(orchestrator)
    (logged,) = [r for r in run_records(run_id, journal) if r["type"] == "Logged"]
    # The record keeps its fields; the value JSON cannot take is kept as its repr, bounded.
    assert logged["event"] == "value"
    kept = logged["data"]["v"]
    assert kept.startswith("[[[[[[")
    assert kept.endswith("]]]]]]")
    assert "[...]" in kept
    assert len(kept) < 1_000
    # The run is journaled whole: its step is recoverable.
    assert recover(run_id, registry, _context(), path=journal).rolled_back == ("a",)


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr is broken")


class HugeRepr:
    def __repr__(self) -> str:
        return "x" * 5_000_000


@pytest.mark.parametrize(
    "value",
    [BadRepr(), HugeRepr(), [BadRepr()] * 3],
    ids=["bad-repr", "huge-repr", "bad-reprs-in-a-list"],
)
def test_a_logged_value_whose_repr_fails_or_is_huge_is_replaced_safely(
    tmp_path: Path, value: Any
) -> None:
    journal = Journal(tmp_path / "j.sqlite3")
    run = journal.start_run("wf", ["a"])
    run.record({"type": "Logged", "event": "odd", "data": {"v": value, "n": 1}})
    run.step_completed(0, "a", {}, {})
    run.finish("succeeded")
    (logged,) = run_records(run.run_id, journal.path)
    assert logged["event"] == "odd"
    assert logged["data"]["n"] == 1
    shown = logged["data"]["v"]
    assert isinstance(shown, (str, list))
    assert len(str(shown)) < 20_000
    if isinstance(value, BadRepr):
        assert shown == "<BadRepr object: repr() raised RuntimeError: repr is broken>"
