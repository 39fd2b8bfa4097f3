"""``StepResult``, ``BaseStep`` and ``BaseStepContext`` as the documentation defines them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from synapse_steps.context import RuntimeContext
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


def test_step_result_defaults_exactly_as_documented() -> None:
    before = datetime.now()
    result = StepResult()
    after = datetime.now()

    assert result.success is True
    assert result.data == {}
    assert result.error is None
    assert result.rollback_data == {}
    assert result.skipped is False
    assert isinstance(result.timestamp, datetime)
    assert before <= result.timestamp <= after
    assert result.exception is None
    assert result.traceback is None


def test_step_result_documented_fields_in_order() -> None:
    names = [f.name for f in dataclasses.fields(StepResult)]
    assert names[:6] == ["success", "data", "error", "rollback_data", "skipped", "timestamp"]
    # positional construction follows the documented order
    result = StepResult(False, {"a": 1}, "bad", {"b": 2}, True)
    assert (result.success, result.data, result.error, result.rollback_data, result.skipped) == (
        False,
        {"a": 1},
        "bad",
        {"b": 2},
        True,
    )


def test_step_result_dicts_are_fresh_per_instance() -> None:
    first, second = StepResult(), StepResult()
    first.data["x"] = 1
    first.rollback_data["y"] = 2
    assert second.data == {}
    assert second.rollback_data == {}
    assert first.data is not second.data
    assert first.rollback_data is not second.rollback_data


def test_step_result_equality_ignores_the_exception() -> None:
    stamp = datetime(2024, 1, 1)
    assert StepResult(False, error="x", timestamp=stamp, exception=ValueError("x")) == StepResult(
        False, error="x", timestamp=stamp
    )
    assert "exception" not in repr(StepResult(exception=ValueError("x")))


def test_step_result_traceback_of_a_raised_exception() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        result = StepResult(success=False, error=str(exc), exception=exc)
    assert result.traceback is not None
    assert result.traceback.startswith("Traceback (most recent call last):\n")
    assert result.traceback.endswith("KeyError: 'missing'\n")


def test_base_step_is_abstract_in_name_weight_and_execute() -> None:
    assert BaseStep.__abstractmethods__ == frozenset({"name", "progress_weight", "execute"})

    class NoExecute(BaseStep[BaseStepContext]):
        @property
        def name(self) -> str:
            return "n"

        @property
        def progress_weight(self) -> float:
            return 1.0

    with pytest.raises(TypeError, match="abstract"):
        NoExecute()  # type: ignore[abstract]


class Minimal(BaseStep[BaseStepContext]):
    @property
    def name(self) -> str:
        return "minimal"

    @property
    def progress_weight(self) -> float:
        return 0.25

    def execute(self, context: BaseStepContext) -> StepResult:
        return StepResult()


def test_base_step_optional_methods_default() -> None:
    step = Minimal()
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    assert step.can_skip(context) is False
    assert step.rollback(context, StepResult()) is None
    assert repr(step) == "<Minimal 'minimal' weight=0.25>"


def test_base_step_generic_subscription_works_at_runtime() -> None:
    @dataclass
    class Ctx(BaseStepContext):
        n: int = 0

    alias = BaseStep[Ctx]
    assert alias.__origin__ is BaseStep  # type: ignore[attr-defined]
    assert StepRegistry[Ctx]().get_steps() == []


def test_base_step_context_field_defaults() -> None:
    runtime = RuntimeContext(display="off")
    context = BaseStepContext(runtime_ctx=runtime)
    assert context.runtime_ctx is runtime
    assert context.step_results == []
    assert context.errors == []
    assert context.current_step is None
    other = BaseStepContext(runtime_ctx=runtime)
    assert context.step_results is not other.step_results
    assert context.errors is not other.errors


def test_base_step_context_current_step_is_not_an_init_argument() -> None:
    fields = {f.name: f for f in dataclasses.fields(BaseStepContext)}
    assert list(fields) == ["runtime_ctx", "step_results", "errors", "current_step"]
    assert fields["current_step"].init is False
    with pytest.raises(TypeError, match="current_step"):
        BaseStepContext(current_step="x")  # type: ignore[call-arg]


def test_runtime_ctx_may_be_omitted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "off")
    first, second = BaseStepContext(), BaseStepContext()
    assert isinstance(first.runtime_ctx, RuntimeContext)
    assert first.runtime_ctx is not second.runtime_ctx
    assert first.runtime_ctx.loggers == ()


def test_user_context_subclass_with_defaulted_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "off")

    @dataclass
    class MyContext(BaseStepContext):
        data: list[str] = field(default_factory=list)
        processed_count: int = 0

    context = MyContext(data=["a"])
    assert (context.data, context.processed_count, context.current_step) == (["a"], 0, None)
    assert MyContext().data == []


def test_log_progress_metrics_forward_with_the_running_step_as_category(
    list_logger: Any,
) -> None:
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=list_logger))

    # outside a step: no category unless given
    context.log("hello", {"a": 1})
    context.log("with_file", {}, file="/tmp/x.png")
    context.set_progress(1, 2)
    context.set_metrics({"loss": 0.5})

    context.current_step = "train"
    context.set_progress(3, 4)
    context.set_metrics({"loss": 0.25})
    context.set_progress(5, 6, category="custom")
    context.set_metrics({"acc": 1.0}, category="other")
    context.log("inside", {"b": 2})

    assert list_logger.calls == [
        ("log", "hello", {"a": 1}, None),
        ("log", "with_file", {}, "/tmp/x.png"),
        ("set_progress", 1, 2, None),
        ("set_metrics", {"loss": 0.5}, None),
        ("set_progress", 3, 4, "train"),
        ("set_metrics", {"loss": 0.25}, "train"),
        ("set_progress", 5, 6, "custom"),
        ("set_metrics", {"acc": 1.0}, "other"),
        ("log", "inside", {"b": 2}, None),
    ]


def test_category_defaults_to_the_running_step_during_a_run(list_logger: Any) -> None:
    class Reporting(BaseStep[BaseStepContext]):
        def __init__(self, name: str) -> None:
            self._name = name

        @property
        def name(self) -> str:
            return self._name

        @property
        def progress_weight(self) -> float:
            return 0.5

        def execute(self, context: BaseStepContext) -> StepResult:
            assert context.current_step == self._name
            context.set_progress(1, 1)
            context.set_metrics({"v": 1})
            return StepResult()

    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=list_logger))
    registry = StepRegistry[BaseStepContext]()
    registry.register(Reporting("first"))
    registry.register(Reporting("second"))
    Orchestrator(registry, context).execute()

    assert list_logger.calls == [
        ("set_progress", 1, 1, "first"),
        ("set_metrics", {"v": 1}, "first"),
        ("set_progress", 1, 1, "second"),
        ("set_metrics", {"v": 1}, "second"),
    ]
    assert context.current_step is None
