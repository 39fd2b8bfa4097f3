"""``Orchestrator``: failures, rollback, interrupts, re-runs, progress and lifecycle records."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from synapse_steps.context import RuntimeContext
from synapse_steps.errors import StepFailedError
from synapse_steps.events import (
    RunFinished,
    RunProgress,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRollbackStarted,
    StepRolledBack,
    StepStarted,
)
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

Trace = list[tuple[str, str]]
_SUCCEED: Any = object()


class Probe(BaseStep[BaseStepContext]):
    """A step that writes what happens to it into ``trace`` and misbehaves on request.

    ``execute`` may be a ``StepResult``, an exception to raise, or any other value to return.
    """

    def __init__(
        self,
        name: str,
        trace: Trace,
        weight: float = 1.0,
        *,
        execute: Any = _SUCCEED,
        skip: Any = False,
        rollback_error: BaseException | None = None,
    ) -> None:
        self._name = name
        self._weight = weight
        self.trace = trace
        self.outcome = StepResult(data={"by": name}) if execute is _SUCCEED else execute
        self.skip = skip
        self.rollback_error = rollback_error
        self.rollback_results: list[StepResult] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return self._weight

    def can_skip(self, context: BaseStepContext) -> bool:
        self.trace.append(("can_skip", self._name))
        if isinstance(self.skip, BaseException):
            raise self.skip
        return bool(self.skip)

    def execute(self, context: BaseStepContext) -> StepResult:
        self.trace.append(("execute", self._name))
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome  # type: ignore[no-any-return]

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        self.trace.append(("rollback", self._name))
        self.rollback_results.append(result)
        if self.rollback_error is not None:
            raise self.rollback_error


def run(
    *steps: BaseStep[BaseStepContext],
    logger: Any = None,
    callback: Callable[[int, int], None] | None = None,
) -> tuple[BaseStepContext, Orchestrator[BaseStepContext]]:
    registry = StepRegistry[BaseStepContext]()
    for step in steps:
        registry.register(step)
    runtime = RuntimeContext(display="off") if logger is None else RuntimeContext(logger=logger)
    context = BaseStepContext(runtime_ctx=runtime)
    return context, Orchestrator(registry, context, callback)


def only(trace: Trace, kind: str) -> list[str]:
    return [name for k, name in trace if k == kind]


# -- results that are not StepResults ---------------------------------------------------------


@pytest.mark.parametrize(
    ("returned", "shown"),
    [(None, "None of type NoneType"), ({"success": True}, "{'success': True} of type dict")],
)
def test_non_step_result_return_is_a_failure_naming_the_step(returned: Any, shown: str) -> None:
    trace: Trace = []
    first = Probe("first", trace)
    forgetful = Probe("forgetful", trace, execute=returned)
    context, orchestrator = run(first, forgetful)

    with pytest.raises(StepFailedError) as raised:
        orchestrator.execute()

    expected = (
        f"step 'forgetful' returned {shown}: execute() must return a StepResult "
        "(did you forget a return statement?)"
    )
    assert str(raised.value) == f"Step 'forgetful' failed: {expected}"
    assert context.step_results[-1].success is False
    assert context.step_results[-1].error == expected
    assert context.errors == [f"Step 'forgetful' failed: {expected}"]
    # the step's execute() was entered, so it may have left something to clean up
    assert only(trace, "rollback") == ["forgetful", "first"]


def test_long_non_step_result_is_shortened_in_the_message() -> None:
    context, orchestrator = run(Probe("s", [], execute="x" * 500))
    with pytest.raises(RuntimeError, match=r"returned 'x{56}\.\.\. of type str: execute\(\) must"):
        orchestrator.execute()
    assert len(context.step_results[0].error or "") < 200


def test_failure_without_error_message_gets_one() -> None:
    _, orchestrator = run(Probe("quiet", [], execute=StepResult(success=False)))
    with pytest.raises(
        RuntimeError,
        match=r"^Step 'quiet' failed: step reported failure without an error message$",
    ):
        orchestrator.execute()


def test_exception_without_text_uses_its_type_name() -> None:
    context, orchestrator = run(Probe("s", [], execute=RuntimeError()))
    with pytest.raises(RuntimeError, match=r"^Step 's' failed: RuntimeError$"):
        orchestrator.execute()
    assert context.step_results[0].error == "RuntimeError"


# -- rollback ----------------------------------------------------------------------------------


def test_failed_step_is_rolled_back_first_with_its_failed_result() -> None:
    trace: Trace = []
    failed_result = StepResult(success=False, error="half-way", rollback_data={"tmp": "/x"})
    steps = [
        Probe("a", trace),
        Probe("b", trace, skip=True),
        Probe("c", trace),
        Probe("d", trace, execute=failed_result),
        Probe("e", trace),
    ]
    context, orchestrator = run(*steps)

    with pytest.raises(RuntimeError, match=r"^Step 'd' failed: half-way$"):
        orchestrator.execute()

    assert trace == [
        ("can_skip", "a"),
        ("execute", "a"),
        ("can_skip", "b"),
        ("can_skip", "c"),
        ("execute", "c"),
        ("can_skip", "d"),
        ("execute", "d"),
        ("rollback", "d"),
        ("rollback", "c"),
        ("rollback", "a"),
    ]
    assert steps[3].rollback_results == [failed_result]
    assert steps[3].rollback_results[0] is context.step_results[3]
    assert steps[0].rollback_results == [context.step_results[0]]
    assert steps[0].rollback_results[0].data == {"by": "a"}
    assert len(context.step_results) == 4
    assert context.current_step is None


def test_rollback_sees_the_rolled_back_step_as_current_step() -> None:
    seen: list[str | None] = []

    class Watch(Probe):
        def rollback(self, context: BaseStepContext, result: StepResult) -> None:
            seen.append(context.current_step)

    context, orchestrator = run(
        Watch("a", []), Watch("b", []), Probe("c", [], execute=ValueError("x"))
    )
    with pytest.raises(RuntimeError):
        orchestrator.execute()
    assert seen == ["b", "a"]
    assert context.current_step is None


def test_rollback_that_raises_is_recorded_and_others_still_roll_back() -> None:
    trace: Trace = []
    steps = [
        Probe("a", trace),
        Probe("b", trace, rollback_error=OSError("disk gone")),
        Probe("c", trace, rollback_error=KeyError("k")),
        Probe("d", trace, execute=ValueError("bad input")),
    ]
    context, orchestrator = run(*steps)

    with pytest.raises(RuntimeError) as raised:
        orchestrator.execute()

    assert only(trace, "rollback") == ["d", "c", "b", "a"]
    assert context.errors == [
        "Step 'd' failed: bad input",
        "Rollback of step 'c' failed: KeyError: 'k'",
        "Rollback of step 'b' failed: OSError: disk gone",
    ]
    assert str(raised.value) == (
        "Step 'd' failed: bad input (rollback also failed for 'c': KeyError: 'k'; "
        "'b': OSError: disk gone)"
    )
    assert isinstance(raised.value.__cause__, ValueError)
    assert raised.value.step == "d"  # type: ignore[attr-defined]
    assert raised.value.error == "bad input"  # type: ignore[attr-defined]
    assert raised.value.rollback_errors == (  # type: ignore[attr-defined]
        "'c': KeyError: 'k'",
        "'b': OSError: disk gone",
    )


def test_rollback_interrupted_by_keyboard_interrupt_still_rolls_back_the_rest() -> None:
    trace: Trace = []
    steps = [
        Probe("a", trace),
        Probe("b", trace, rollback_error=KeyboardInterrupt()),
        Probe("c", trace, execute=StepResult(success=False, error="no")),
    ]
    context, orchestrator = run(*steps)
    with pytest.raises(RuntimeError, match=r"rollback also failed for 'b': KeyboardInterrupt\)$"):
        orchestrator.execute()
    assert only(trace, "rollback") == ["c", "b", "a"]
    assert context.errors[-1] == "Rollback of step 'b' failed: KeyboardInterrupt"


def test_can_skip_that_raises_is_a_failure_and_the_step_is_not_rolled_back() -> None:
    trace: Trace = []
    context, orchestrator = run(
        Probe("a", trace), Probe("b", trace, skip=ValueError("cannot tell"))
    )
    with pytest.raises(RuntimeError, match=r"^Step 'b' failed: cannot tell$") as raised:
        orchestrator.execute()
    assert isinstance(raised.value.__cause__, ValueError)
    assert only(trace, "execute") == ["a"]
    assert only(trace, "rollback") == ["a"]
    assert [(r.success, r.error) for r in context.step_results] == [
        (True, None),
        (False, "cannot tell"),
    ]


def test_progress_callback_that_raises_fails_the_step_and_rolls_it_back() -> None:
    trace: Trace = []

    def callback(current: int, total: int) -> None:
        if current > 50:
            raise ConnectionError("server down")

    context, orchestrator = run(Probe("a", trace), Probe("b", trace), callback=callback)
    with pytest.raises(
        RuntimeError,
        match=r"^Step 'b' failed: progress callback raised ConnectionError: server down$",
    ) as raised:
        orchestrator.execute()
    assert isinstance(raised.value.__cause__, ConnectionError)
    assert only(trace, "rollback") == ["b", "a"]
    assert len(context.step_results) == 2
    assert context.current_step is None


# -- KeyboardInterrupt ---------------------------------------------------------------------------


def test_keyboard_interrupt_in_execute_rolls_back_and_is_reraised(hook_logger: Any) -> None:
    trace: Trace = []
    steps = [
        Probe("a", trace),
        Probe("b", trace, skip=True),
        Probe("c", trace, execute=KeyboardInterrupt()),
        Probe("d", trace),
    ]
    context, orchestrator = run(*steps, logger=hook_logger)

    with pytest.raises(KeyboardInterrupt):
        orchestrator.execute()

    assert only(trace, "execute") == ["a", "c"]
    assert only(trace, "rollback") == ["c", "a"]
    assert context.current_step is None
    assert [(r.success, r.skipped, r.error) for r in context.step_results] == [
        (True, False, None),
        (True, True, None),
        (False, False, "interrupted (KeyboardInterrupt)"),
    ]
    assert isinstance(context.step_results[2].exception, KeyboardInterrupt)
    assert steps[2].rollback_results == [context.step_results[2]]
    assert context.errors == ["Run interrupted at step 'c'"]
    failed = [r for r in hook_logger.records if isinstance(r, StepFailed)]
    assert [(r.name, r.interrupted, r.error) for r in failed] == [
        ("c", True, "interrupted (KeyboardInterrupt)")
    ]
    end = hook_logger.records[-1]
    assert isinstance(end, RunFinished)
    assert (end.status, end.failed_step, end.rolled_back) == ("interrupted", "c", ("c", "a"))


def test_keyboard_interrupt_in_can_skip_rolls_back_previous_steps() -> None:
    trace: Trace = []
    steps = [Probe("a", trace), Probe("b", trace), Probe("c", trace, skip=KeyboardInterrupt())]
    context, orchestrator = run(*steps)

    with pytest.raises(KeyboardInterrupt):
        orchestrator.execute()

    assert only(trace, "execute") == ["a", "b"]
    assert only(trace, "rollback") == ["b", "a"]  # c never executed: nothing to undo
    assert context.current_step is None
    assert len(context.step_results) == 3
    assert context.step_results[2].error == "interrupted (KeyboardInterrupt)"
    assert context.errors == ["Run interrupted at step 'c'"]


def test_keyboard_interrupt_in_progress_callback_rolls_back_everything_executed() -> None:
    trace: Trace = []
    calls: list[int] = []

    def callback(current: int, total: int) -> None:
        calls.append(current)
        if len(calls) == 3:
            raise KeyboardInterrupt

    steps = [Probe("a", trace), Probe("b", trace, skip=True), Probe("c", trace), Probe("d", trace)]
    context, orchestrator = run(*steps, callback=callback)

    with pytest.raises(KeyboardInterrupt):
        orchestrator.execute()

    assert calls == [25, 50, 75]
    assert only(trace, "execute") == ["a", "c"]
    assert only(trace, "rollback") == ["c", "a"]
    assert context.current_step is None
    assert [r.success for r in context.step_results] == [True, True, True]
    assert context.errors == ["Run interrupted"]


def test_keyboard_interrupt_after_a_skip_in_the_callback() -> None:
    trace: Trace = []

    def callback(current: int, total: int) -> None:
        raise KeyboardInterrupt

    context, orchestrator = run(Probe("a", trace, skip=True), callback=callback)
    with pytest.raises(KeyboardInterrupt):
        orchestrator.execute()
    assert only(trace, "rollback") == []
    assert context.current_step is None


# -- re-running ------------------------------------------------------------------------------------


def test_execute_again_starts_a_fresh_run() -> None:
    trace: Trace = []
    flaky = Probe("b", trace, execute=ValueError("first time"))
    context, orchestrator = run(Probe("a", trace), flaky)

    with pytest.raises(RuntimeError):
        orchestrator.execute()
    assert len(context.step_results) == 2
    assert context.errors == ["Step 'b' failed: first time"]
    first_results = context.step_results

    trace.clear()
    flaky.outcome = StepResult(data={"second": True})
    assert orchestrator.execute() == {"success": True, "steps_executed": 2, "steps_total": 2}

    assert trace == [("can_skip", "a"), ("execute", "a"), ("can_skip", "b"), ("execute", "b")]
    assert [r.data for r in context.step_results] == [{"by": "a"}, {"second": True}]
    assert context.errors == []
    assert first_results is not context.step_results
    assert len(first_results) == 2  # the first run's list was not mutated


def test_failed_rerun_rolls_back_only_its_own_steps() -> None:
    trace: Trace = []
    last = Probe("c", trace)
    context, orchestrator = run(Probe("a", trace), Probe("b", trace), last)
    assert orchestrator.execute()["steps_executed"] == 3

    trace.clear()
    last.outcome = StepResult(success=False, error="now broken")
    with pytest.raises(RuntimeError):
        orchestrator.execute()
    assert only(trace, "rollback") == ["c", "b", "a"]
    assert context.errors == ["Step 'c' failed: now broken"]

    trace.clear()
    with pytest.raises(RuntimeError):
        orchestrator.execute()
    assert only(trace, "rollback") == ["c", "b", "a"]  # once each, not twice
    assert len(context.step_results) == 3
    assert context.errors == ["Step 'c' failed: now broken"]


def test_state_left_by_the_user_is_cleared_at_start() -> None:
    context, orchestrator = run(Probe("a", []))
    context.step_results.append(StepResult(data={"stale": 1}))
    context.errors.append("stale")
    orchestrator.execute()
    assert [r.data for r in context.step_results] == [{"by": "a"}]
    assert context.errors == []


def test_registry_changes_after_construction_are_seen_by_the_next_execute() -> None:
    trace: Trace = []
    registry = StepRegistry[BaseStepContext]()
    registry.register(Probe("a", trace))
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    orchestrator = Orchestrator(registry, context)
    registry.register(Probe("b", trace))
    assert orchestrator.execute() == {"success": True, "steps_executed": 2, "steps_total": 2}


# -- progress --------------------------------------------------------------------------------


def progress_of(*weights: float, skip: tuple[int, ...] = ()) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    steps = [Probe(f"s{i}", [], w, skip=i in skip) for i, w in enumerate(weights)]
    _, orchestrator = run(*steps, callback=lambda c, t: calls.append((c, t)))
    orchestrator.execute()
    return calls


def test_documented_weights_give_30_50_100() -> None:
    assert progress_of(0.3, 0.2, 0.5) == [(30, 100), (50, 100), (100, 100)]


def test_weights_not_summing_to_one_are_normalised() -> None:
    assert progress_of(3, 2, 5) == [(30, 100), (50, 100), (100, 100)]
    assert progress_of(0.1, 0.1) == [(50, 100), (100, 100)]
    assert progress_of(1, 1, 1) == [(33, 100), (67, 100), (100, 100)]


def test_all_zero_weights_count_steps_equally() -> None:
    assert progress_of(0, 0, 0, 0) == [(25, 100), (50, 100), (75, 100), (100, 100)]


def test_zero_weight_steps_do_not_advance_progress() -> None:
    assert progress_of(0, 1, 0, 1, 0) == [
        (0, 100),
        (50, 100),
        (50, 100),
        (100, 100),
        (100, 100),
    ]


def test_last_call_is_100_even_when_float_sums_fall_short() -> None:
    weights = [0.1] * 10  # sums to 0.9999999999999999
    calls = progress_of(*weights)
    assert calls == [(10 * i, 100) for i in range(1, 11)]


def test_tiny_last_weight_still_ends_at_100() -> None:
    assert progress_of(1, 1e-9) == [(100, 100), (100, 100)]


def test_skipped_steps_advance_progress() -> None:
    assert progress_of(0.3, 0.2, 0.5, skip=(0, 1)) == [(30, 100), (50, 100), (100, 100)]


def test_empty_registry_succeeds_with_one_call_at_100(hook_logger: Any) -> None:
    calls: list[tuple[int, int]] = []
    context, orchestrator = run(logger=hook_logger, callback=lambda c, t: calls.append((c, t)))
    assert orchestrator.execute() == {"success": True, "steps_executed": 0, "steps_total": 0}
    assert calls == [(100, 100)]
    assert context.step_results == []
    assert [type(r) for r in hook_logger.records] == [RunStarted, RunProgress, RunFinished]


# -- lifecycle records ----------------------------------------------------------------------------


def test_lifecycle_records_in_order_for_a_failed_run(hook_logger: Any) -> None:
    steps = [
        Probe("a", [], 0.5),
        Probe("b", [], 0.25, skip=True),
        Probe("c", [], 0.25, execute=ValueError("broken")),
    ]
    context, orchestrator = run(*steps, logger=hook_logger)
    with pytest.raises(RuntimeError):
        orchestrator.execute()

    records = hook_logger.records
    summary = [(type(r).__name__, getattr(r, "name", None)) for r in records]
    assert summary == [
        ("RunStarted", None),
        ("StepStarted", "a"),
        ("StepFinished", "a"),
        ("RunProgress", None),
        ("StepSkipped", "b"),
        ("RunProgress", None),
        ("StepStarted", "c"),
        ("StepFailed", "c"),
        ("StepRollbackStarted", "c"),
        ("StepRolledBack", "c"),
        ("StepRollbackStarted", "a"),
        ("StepRolledBack", "a"),
        ("RunFinished", None),
    ]
    started = records[0]
    assert [(p.position, p.name, p.weight, p.share, p.start, p.end) for p in started.steps] == [
        (0, "a", 0.5, 0.5, 0.0, 0.5),
        (1, "b", 0.25, 0.25, 0.5, 0.75),
        (2, "c", 0.25, 0.25, 0.75, 1.0),
    ]
    assert [p.step_class for p in started.steps] == ["Probe"] * 3
    assert [(r.current, r.total) for r in records if isinstance(r, RunProgress)] == [
        (50, 100),
        (75, 100),
    ]
    failed = records[7]
    assert (failed.position, failed.error, failed.interrupted) == (2, "broken", False)
    assert isinstance(failed.exception, ValueError)
    assert [(r.position, r.error) for r in records if isinstance(r, StepRolledBack)] == [
        (2, None),
        (0, None),
    ]
    assert [r.position for r in records if isinstance(r, StepRollbackStarted)] == [2, 0]
    end = records[-1]
    assert end._replace(duration=0, time=0) == RunFinished(
        "failed", 1, 3, "c", "broken", ("c", "a"), (), 0, 0
    )
    assert end.duration >= 0
    times = [r.time for r in records]
    assert times == sorted(times)
    assert context.errors == ["Step 'c' failed: broken"]


def test_lifecycle_records_for_a_successful_run(hook_logger: Any) -> None:
    _, orchestrator = run(Probe("a", [], 1), Probe("b", [], 3), logger=hook_logger)
    orchestrator.execute()
    records = hook_logger.records
    assert [type(r) for r in records] == [
        RunStarted,
        StepStarted,
        StepFinished,
        RunProgress,
        StepStarted,
        StepFinished,
        RunProgress,
        RunFinished,
    ]
    assert [(r.position, r.name) for r in records if isinstance(r, StepFinished)] == [
        (0, "a"),
        (1, "b"),
    ]
    assert all(r.duration >= 0 for r in records if isinstance(r, StepFinished))
    end = records[-1]
    assert (end.status, end.steps_executed, end.steps_total, end.failed_step, end.error) == (
        "succeeded",
        2,
        2,
        None,
        None,
    )
    assert (end.rolled_back, end.rollback_errors) == ((), ())


def test_rollback_errors_reach_the_lifecycle_records(hook_logger: Any) -> None:
    steps = [Probe("a", [], rollback_error=OSError("locked")), Probe("b", [], execute=KeyError())]
    _, orchestrator = run(*steps, logger=hook_logger)
    with pytest.raises(RuntimeError):
        orchestrator.execute()
    rolled = [(r.name, r.error) for r in hook_logger.records if isinstance(r, StepRolledBack)]
    assert rolled == [("b", None), ("a", "OSError: locked")]
    assert hook_logger.records[-1].rollback_errors == ("'a': OSError: locked",)
    # a rollback that raised did not roll the step back
    assert hook_logger.records[-1].rolled_back == ("b",)


def test_run_ids_increase_per_execute(hook_logger: Any) -> None:
    _, orchestrator = run(Probe("a", []), logger=hook_logger)
    orchestrator.execute()
    orchestrator.execute()
    ids = [r.run_id for r in hook_logger.records if isinstance(r, RunStarted)]
    assert len(ids) == 2
    assert ids[1] > ids[0]


def test_basic_logger_sees_exactly_the_steps_own_calls(list_logger: Any) -> None:
    class Chatty(Probe):
        def execute(self, context: BaseStepContext) -> StepResult:
            context.log("hello", {"from": self.name})
            context.set_progress(1, 2)
            context.set_metrics({"m": 1})
            return super().execute(context)

        def rollback(self, context: BaseStepContext, result: StepResult) -> None:
            context.log("undo", {"step": self.name})

    steps = [Chatty("a", []), Probe("b", [], skip=True), Chatty("c", [], execute=ValueError("x"))]
    _, orchestrator = run(*steps, logger=list_logger, callback=lambda c, t: None)
    with pytest.raises(RuntimeError):
        orchestrator.execute()

    assert list_logger.calls == [
        ("log", "hello", {"from": "a"}, None),
        ("set_progress", 1, 2, "a"),
        ("set_metrics", {"m": 1}, "a"),
        ("log", "hello", {"from": "c"}, None),
        ("set_progress", 1, 2, "c"),
        ("set_metrics", {"m": 1}, "c"),
        ("log", "undo", {"step": "c"}, None),
        ("log", "undo", {"step": "a"}, None),
    ]


def test_hook_that_raises_warns_once_then_is_disabled(hook_logger: Any) -> None:
    class Broken:
        def __init__(self) -> None:
            self.seen: list[str] = []

        def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
            self.seen.append(event)

        def set_progress(self, current: int, total: int, category: str | None = None) -> None:
            pass

        def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
            pass

        def on_run_start(self, record: Any) -> None:
            self.seen.append("on_run_start")

        def on_step_start(self, record: Any) -> None:
            self.seen.append("on_step_start")
            raise ZeroDivisionError("display bug")

        def on_step_end(self, record: Any) -> None:
            self.seen.append("on_step_end")

        def on_run_end(self, record: Any) -> None:
            self.seen.append("on_run_end")

    class Logs(Probe):
        def execute(self, context: BaseStepContext) -> StepResult:
            context.log("work", {})
            return super().execute(context)

    broken = Broken()
    _, orchestrator = run(Logs("a", []), Logs("b", []), logger=[broken, hook_logger])
    with pytest.warns(RuntimeWarning) as caught:
        result = orchestrator.execute()

    assert result == {"success": True, "steps_executed": 2, "steps_total": 2}
    assert len(caught) == 1
    assert str(caught[0].message) == (
        "Broken raised in on_step_start: ZeroDivisionError('display bug'); "
        "it receives no more records from this runtime"
    )
    # the broken logger still gets what steps report (it is a plain logger too), but no more
    # records through its hooks
    assert broken.seen == ["on_run_start", "on_step_start", "work", "work"]
    # the other logger is unaffected
    assert [type(r).__name__ for r in hook_logger.records].count("StepStarted") == 2
    assert isinstance(hook_logger.records[-1], RunFinished)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        orchestrator.execute()  # disabled for good: no second warning
    assert broken.seen.count("on_step_start") == 1


def test_keyboard_interrupt_in_a_hook_is_not_swallowed() -> None:
    class Stopper:
        def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
            pass

        def set_progress(self, current: int, total: int, category: str | None = None) -> None:
            pass

        def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
            pass

        def on_step_end(self, record: Any) -> None:
            raise KeyboardInterrupt

    trace: Trace = []
    context, orchestrator = run(Probe("a", trace), Probe("b", trace), logger=Stopper())
    with pytest.raises(KeyboardInterrupt):
        orchestrator.execute()
    assert only(trace, "rollback") == ["a"]
    assert context.current_step is None


class Slow(Probe):
    def execute(self, context: BaseStepContext) -> StepResult:
        time.sleep(0.02)
        return super().execute(context)


def test_step_durations_are_measured(hook_logger: Any) -> None:
    _, orchestrator = run(Slow("a", []), logger=hook_logger)
    orchestrator.execute()
    (finished,) = [r for r in hook_logger.records if isinstance(r, StepFinished)]
    assert 0.02 <= finished.duration < 5.0
    assert hook_logger.records[-1].duration >= finished.duration


def test_failed_step_duration_is_measured_for_a_logger_with_only_the_fail_hook() -> None:
    class FailHook:
        def __init__(self) -> None:
            self.failed: list[StepFailed] = []

        def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
            pass

        def set_progress(self, current: int, total: int, category: str | None = None) -> None:
            pass

        def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
            pass

        def on_step_fail(self, record: StepFailed) -> None:
            self.failed.append(record)

    logger = FailHook()
    _, orchestrator = run(
        Slow("a", [], execute=StepResult(success=False, error="late")), logger=logger
    )
    with pytest.raises(RuntimeError):
        orchestrator.execute()
    (failed,) = logger.failed
    assert (failed.name, failed.error) == ("a", "late")
    assert 0.02 <= failed.duration < 5.0


def test_orchestrator_rejects_swapped_or_missing_arguments() -> None:
    registry = StepRegistry[BaseStepContext]()
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    with pytest.raises(TypeError, match=r"needs a StepRegistry as its first argument, got "):
        Orchestrator(context, registry)  # type: ignore[arg-type,type-var]
    with pytest.raises(TypeError, match=r"subclasses BaseStepContext, got NoneType"):
        Orchestrator(registry, None)  # type: ignore[misc]
    with pytest.raises(TypeError, match=r"progress_callback must be callable"):
        Orchestrator(registry, context, progress_callback=100)  # type: ignore[arg-type]
