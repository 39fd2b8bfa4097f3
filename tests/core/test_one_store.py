"""One store per runtime, front ends that subscribe, and the core under abuse (issues 8 and 9)."""

from __future__ import annotations

import io
import math
import warnings
from typing import Any

import pytest

import synapse_steps
from synapse_steps import (
    NestedRunError,
    RunFailedError,
    RuntimeContext,
    StepDefinitionError,
    StepFailedError,
    SynapseStepsError,
    UsageError,
)
from synapse_steps.clock import Clock
from synapse_steps.display.console import ConsoleLogger
from synapse_steps.steps import (
    BaseStep,
    BaseStepContext,
    LoggingStep,
    Orchestrator,
    StepRegistry,
    StepResult,
    TimingStep,
)


class Fn(BaseStep[BaseStepContext]):
    """A step that runs a function (and records that it ran / was rolled back)."""

    def __init__(self, name: str, fn: Any = None, weight: float = 1.0) -> None:
        self._name, self.fn, self.weight = name, fn, weight
        self.rolled_back = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return self.weight

    def execute(self, context: BaseStepContext) -> StepResult:
        if self.fn is not None:
            self.fn(context)
        return StepResult()

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        self.rolled_back += 1


def run(*steps: BaseStep[BaseStepContext], runtime: RuntimeContext | None = None) -> Any:
    registry = StepRegistry[BaseStepContext]()
    for step in steps:
        registry.register(step)
    context = BaseStepContext(runtime_ctx=runtime or RuntimeContext(display="off"))
    return context, Orchestrator(registry, context).execute()


class PlainLogger:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
        self.calls.append(("log", event, data))

    def set_progress(self, current: int, total: int, category: str | None = None) -> None:
        self.calls.append(("progress", current, total, category))

    def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
        self.calls.append(("metrics", value, category))


# -- one store ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make", [lambda: RuntimeContext(display="off"), lambda: RuntimeContext(logger=PlainLogger())]
)
def test_the_recorder_is_always_there_and_keeps_the_data(make: Any) -> None:
    runtime = make()
    context, _ = run(
        Fn("train", lambda c: (c.set_progress(1, 1), c.set_metrics({"loss": 0.5, "epoch": 0}))),
        runtime=runtime,
    )
    recorder = context.runtime_ctx.recorder
    assert recorder is not None
    assert recorder.steps_frame()["status"].tolist() == ["done"]
    assert recorder.metrics_frame()[["metric", "epoch", "value"]].values.tolist() == [
        ["loss", 0, 0.5]
    ]


def test_a_plain_logger_still_gets_every_call() -> None:
    plain = PlainLogger()
    run(
        Fn("a", lambda c: (c.log("hi"), c.set_progress(1, 2), c.set_metrics({"m": 1}))),
        runtime=RuntimeContext(logger=plain),
    )
    assert plain.calls == [
        ("log", "hi", {}),
        ("progress", 1, 2, "a"),
        ("metrics", {"m": 1}, "a"),
    ]


def test_two_consoles_on_one_runtime_share_one_run_state() -> None:
    first, second = io.StringIO(), io.StringIO()
    runtime = RuntimeContext(logger=[ConsoleLogger(first), ConsoleLogger(second)])
    run(Fn("a"), runtime=runtime)
    assert len(runtime.recorder.runs) == 1
    assert runtime.recorder.run.phase == "succeeded"
    assert first.getvalue() == second.getvalue()
    assert "run succeeded - 1 of 1 steps executed" in first.getvalue()


def test_a_recorder_given_as_a_logger_becomes_the_store() -> None:
    recorder = synapse_steps.Recorder()
    runtime = RuntimeContext(logger=recorder)
    assert runtime.recorder is recorder
    run(Fn("a"), runtime=runtime)
    assert recorder.run.phase == "succeeded"


def test_a_misspelt_hook_is_named_with_the_known_ones() -> None:
    class Typo(PlainLogger):
        def on_step_started(self, record: Any) -> None:  # the hook is on_step_start
            raise AssertionError("never called")

    with pytest.warns(UserWarning, match=r"Typo\.on_step_started is not a known hook") as caught:
        RuntimeContext(logger=Typo())
    assert "on_step_start" in str(caught[0].message)


def test_a_hook_only_front_end_is_accepted_and_called() -> None:
    class Starts:
        def __init__(self) -> None:
            self.names: list[str] = []

        def on_step_start(self, record: Any) -> None:
            self.names.append(record.name)

    starts = Starts()
    run(Fn("a"), Fn("b"), runtime=RuntimeContext(logger=starts))
    assert starts.names == ["a", "b"]


def test_something_that_is_no_logger_is_refused() -> None:
    with pytest.raises(UsageError, match="has neither the logger methods"):
        RuntimeContext(logger=object())


# -- forgiving reports, strict errors ------------------------------------------------------------


def test_log_without_data() -> None:
    context, _ = run(Fn("a", lambda c: c.log("Loaded 3 items")))
    event = context.runtime_ctx.recorder.events[-1]
    assert (event.event, event.data) == ("Loaded 3 items", {})


def test_set_metrics_with_a_number_says_what_it_needs() -> None:
    with pytest.raises(StepFailedError) as caught:
        run(Fn("a", lambda c: c.set_metrics(0.5)))
    cause = caught.value.__cause__
    assert isinstance(cause, UsageError)
    assert isinstance(cause, TypeError)
    assert "got 0.5 of type float" in str(cause)
    assert "set_metrics({'loss': 0.25" in str(cause)


def test_non_numeric_metrics_are_kept_not_dropped() -> None:
    values = {"loss": 0.5, "tag": "warmup", "best": None, "lr": {"head": 0.1, "body": 0.01}}
    context, _ = run(Fn("a", lambda c: c.set_metrics(values)))
    frame = context.runtime_ctx.recorder.metrics_frame()
    assert sorted(frame["metric"]) == ["best", "loss", "lr/body", "lr/head", "tag"]
    texts = dict(zip(frame["metric"], frame["text"], strict=True))
    assert texts["tag"] == "warmup"
    assert texts["best"] is None
    plotted = dict(zip(frame["metric"], frame["value"], strict=True))
    assert plotted["lr/head"] == 0.1
    assert math.isnan(plotted["tag"])


# -- one clock -------------------------------------------------------------------------------


class StepClock(Clock):
    def __init__(self) -> None:
        self.t = 100.0

    def now(self) -> float:
        self.t += 0.5
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0


def test_every_time_comes_from_the_runtime_clock() -> None:
    runtime = RuntimeContext(display="off", clock=StepClock())
    context, _ = run(LoggingStep(Fn("a")), TimingStep(Fn("b")), runtime=runtime)
    state = runtime.recorder.run
    assert state.started is not None
    assert state.started > 100.0
    assert state.wall_started == 1_700_000_000.0
    assert all(step.duration is not None and step.duration % 0.5 == 0 for step in state.steps)
    end = next(e for e in runtime.recorder.events if e.event == "step_end")
    assert end.data["elapsed"] == 0.5
    assert end.time == 1_700_000_000.0
    assert context.step_results[1].data["duration_seconds"] == 0.5


# -- one exception tree ------------------------------------------------------------------------


def test_every_error_class_is_exported_and_in_the_tree() -> None:
    from synapse_steps import errors

    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, Exception)
    ]
    assert len(classes) > 10
    for klass in classes:
        assert issubclass(klass, SynapseStepsError)
        assert getattr(synapse_steps, klass.__name__) is klass
    assert synapse_steps.StepFailedError is StepFailedError


# -- the orchestrator under abuse (issue 8, items 16-21) -----------------------------------------


def test_a_nested_run_on_the_same_runtime_is_refused_and_the_outer_run_rolls_back() -> None:
    inner_registry = StepRegistry[BaseStepContext]()
    inner_registry.register(Fn("inner"))

    def nested(context: BaseStepContext) -> None:
        Orchestrator(inner_registry, context).execute()

    first = Fn("first")
    runtime = RuntimeContext(display="off")
    with pytest.raises(StepFailedError) as caught:
        run(first, Fn("outer", nested), runtime=runtime)
    assert isinstance(caught.value.__cause__, NestedRunError)
    assert "already running a workflow" in caught.value.error
    assert first.rolled_back == 1
    state = runtime.recorder.run
    assert len(runtime.recorder.runs) == 1
    assert state.phase == "failed"
    assert [s.label for s in state.steps] == ["rolled back", "failed, rolled back"]
    # The runtime is free again afterwards.
    run(Fn("again"), runtime=runtime)


def test_a_separate_runtime_may_run_inside_a_step() -> None:
    inner_registry = StepRegistry[BaseStepContext]()
    inner_registry.register(Fn("inner"))

    def nested(context: BaseStepContext) -> None:
        Orchestrator(
            inner_registry, BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
        ).execute()

    run(Fn("outer", nested))


def test_weights_that_overflow_the_total_are_refused_at_registration() -> None:
    registry = StepRegistry[BaseStepContext]()
    registry.register(Fn("a", weight=1e308))
    with pytest.raises(StepDefinitionError, match="total weight overflow"):
        registry.register(Fn("b", weight=1e308))
    assert registry.total_weight == 1e308
    assert registry.names == ["a"]


def test_huge_weights_still_give_sane_progress() -> None:
    seen: list[int] = []
    registry = StepRegistry[BaseStepContext]()
    for name in "abc":
        registry.register(Fn(name, weight=5e307))
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    Orchestrator(registry, context, lambda c, t: seen.append(c)).execute()
    assert seen == [33, 67, 100]
    plan = [(round(p.share, 6), p.end) for p in context.runtime_ctx.recorder.run.steps[0:0]]
    assert plan == []
    shares = [s.plan.share for s in context.runtime_ctx.recorder.run.steps]
    assert all(math.isfinite(share) for share in shares)
    assert abs(sum(shares) - 1.0) < 1e-12


@pytest.mark.parametrize(
    "values", [(math.nan, 10), (5, 3), (-1, 3), (1, 0), ("1", 2), (1, math.inf)]
)
def test_bad_progress_never_fails_a_step_and_warns_once(values: tuple[Any, Any]) -> None:
    out = io.StringIO()
    runtime = RuntimeContext(logger=ConsoleLogger(out))
    with pytest.warns(
        RuntimeWarning, match=r"progress must satisfy 0 <= current <= total"
    ) as caught:
        run(Fn("a", lambda c: (c.set_progress(*values), c.set_progress(*values))), runtime=runtime)
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    assert runtime.recorder.run.phase == "succeeded"
    fraction = runtime.recorder.run.steps[0].categories.get("a")
    if fraction is not None:
        assert 0 <= fraction[0] <= fraction[1]
    assert "%)" not in out.getvalue() or "(100%)" in out.getvalue() or "(0%)" in out.getvalue()


def test_out_of_range_progress_is_clamped_in_the_state() -> None:
    runtime = RuntimeContext(display="off")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        run(Fn("a", lambda c: c.set_progress(5, 3, "items")), runtime=runtime)
    assert runtime.recorder.run.steps[0].categories["items"] == (3.0, 3.0)


def test_an_empty_run_whose_callback_raises_is_a_failed_run() -> None:
    registry = StepRegistry[BaseStepContext]()
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))

    def callback(current: int, total: int) -> None:
        raise ConnectionError("dashboard down")

    with pytest.raises(RunFailedError, match="progress callback raised ConnectionError") as caught:
        Orchestrator(registry, context, callback).execute()
    assert isinstance(caught.value.__cause__, ConnectionError)
    state = context.runtime_ctx.recorder.run
    assert state.phase == "failed"
    assert context.errors == [
        "Run failed: progress callback raised ConnectionError: dashboard down"
    ]


def test_the_console_keeps_no_history_of_its_own() -> None:
    console = ConsoleLogger(io.StringIO(), metrics_interval=1e9)
    runtime = RuntimeContext(logger=console)

    def many(context: BaseStepContext) -> None:
        for i in range(20_000):
            context.set_metrics({"loss": 1 / (i + 1), "step": i})

    run(Fn("train", many), runtime=runtime)
    assert len(runtime.recorder.run.metrics) == 20_000  # the one history
    owned = {k: v for k, v in vars(console).items() if k not in ("recorder", "clock", "_stream")}
    assert sum(len(v) for v in owned.values() if isinstance(v, dict)) <= 2


def test_registering_many_steps_is_linear() -> None:
    class Counted(Fn):
        reads = 0

        @property
        def name(self) -> str:
            Counted.reads += 1
            return self._name

    registry = StepRegistry[BaseStepContext]()
    for index in range(2000):
        registry.register(Counted(f"s{index}"))
    assert Counted.reads < 10 * 2000  # a quadratic check reads names ~2,000,000 times
