"""``StepRegistry``: ordering, copies, weights, and validation at registration."""

from __future__ import annotations

import math
from typing import Any

import pytest

from synapse_steps.errors import StepDefinitionError, SynapseStepsError, UnknownStepError
from synapse_steps.steps import (
    BaseStep,
    BaseStepContext,
    LoggingStep,
    StepRegistry,
    StepResult,
    TimingStep,
)


class Step(BaseStep[BaseStepContext]):
    """A step whose name and weight are whatever the test says, valid or not."""

    def __init__(self, name: Any, weight: Any = 0.1) -> None:
        self._name = name
        self._weight = weight

    @property
    def name(self) -> str:
        return self._name  # type: ignore[no-any-return]

    @property
    def progress_weight(self) -> float:
        return self._weight  # type: ignore[no-any-return]

    def execute(self, context: BaseStepContext) -> StepResult:
        return StepResult()


def registry_of(*names: str) -> StepRegistry[BaseStepContext]:
    registry = StepRegistry[BaseStepContext]()
    for name in names:
        registry.register(Step(name))
    return registry


def names(registry: StepRegistry[BaseStepContext]) -> list[str]:
    return [step.name for step in registry.get_steps()]


def test_register_appends_in_order_and_len_counts() -> None:
    registry = StepRegistry[BaseStepContext]()
    assert len(registry) == 0
    steps = [Step("a"), Step("b"), Step("c")]
    for step in steps:
        registry.register(step)
    assert len(registry) == 3
    assert registry.get_steps() == steps
    assert all(a is b for a, b in zip(registry.get_steps(), steps, strict=True))


def test_get_steps_returns_a_copy() -> None:
    registry = registry_of("a", "b")
    steps = registry.get_steps()
    steps.clear()
    steps.append(Step("intruder"))
    assert names(registry) == ["a", "b"]
    assert registry.get_steps() is not registry.get_steps()


def test_unregister_removes_by_name() -> None:
    registry = registry_of("a", "b", "c")
    registry.unregister("b")
    assert names(registry) == ["a", "c"]
    assert len(registry) == 2
    registry.register(Step("b"))  # the name is free again
    assert names(registry) == ["a", "c", "b"]


def test_unregister_unknown_name_lists_existing_names() -> None:
    registry = registry_of("a", "b")
    with pytest.raises(ValueError, match=r"'missing'.*'a', 'b'"):
        registry.unregister("missing")


def test_insert_after_and_before() -> None:
    registry = registry_of("a", "c")
    registry.insert_after("a", Step("b"))
    registry.insert_after("c", Step("d"))
    registry.insert_before("a", Step("start"))
    registry.insert_before("d", Step("c2"))
    assert names(registry) == ["start", "a", "b", "c", "c2", "d"]


@pytest.mark.parametrize("method", ["insert_after", "insert_before"])
def test_insert_with_unknown_name_lists_existing_names(method: str) -> None:
    registry = registry_of("load_data", "process")
    with pytest.raises(ValueError, match="no step named 'save'") as raised:
        getattr(registry, method)("save", Step("x"))
    assert "'load_data', 'process'" in str(raised.value)
    assert names(registry) == ["load_data", "process"]


def test_insert_into_empty_registry_says_it_is_empty() -> None:
    with pytest.raises(ValueError, match=r"no step named 'a'.*none \(the registry is empty\)"):
        StepRegistry[BaseStepContext]().insert_after("a", Step("b"))


@pytest.mark.parametrize("method", ["insert_after", "insert_before"])
def test_insert_validates_the_new_step(method: str) -> None:
    registry = registry_of("a", "b")
    with pytest.raises(ValueError, match="'b' is already registered"):
        getattr(registry, method)("a", Step("b"))
    assert names(registry) == ["a", "b"]


def test_duplicate_name_is_rejected_with_the_name() -> None:
    registry = registry_of("load")
    with pytest.raises(ValueError, match=r"^a step named 'load' is already registered") as raised:
        registry.register(Step("load"))
    assert isinstance(raised.value, SynapseStepsError)
    assert len(registry) == 1


def test_wrapped_step_names_are_distinct_from_the_inner_name() -> None:
    registry = registry_of("process")
    registry.register(LoggingStep(Step("process")))
    registry.register(TimingStep(Step("process")))
    assert names(registry) == ["process", "logged_process", "timed_process"]
    with pytest.raises(ValueError, match="'logged_process'"):
        registry.register(LoggingStep(Step("process")))


@pytest.mark.parametrize("bad_name", ["", "   ", None, 3, b"bytes"])
def test_empty_or_non_string_name_is_rejected(bad_name: Any) -> None:
    registry = StepRegistry[BaseStepContext]()
    with pytest.raises(ValueError, match=r"^step Step has an invalid name") as raised:
        registry.register(Step(bad_name))
    assert repr(bad_name) in str(raised.value)
    assert len(registry) == 0


@pytest.mark.parametrize(
    ("weight", "shown"),
    [(-0.1, "-0.1"), (-1, "-1"), (math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf")],
)
def test_negative_nan_or_infinite_weight_is_rejected_naming_the_step(
    weight: float, shown: str
) -> None:
    registry = StepRegistry[BaseStepContext]()
    with pytest.raises(ValueError, match=rf"^step 'train' has progress_weight {shown};") as raised:
        registry.register(Step("train", weight))
    assert "finite number >= 0" in str(raised.value)
    assert len(registry) == 0


@pytest.mark.parametrize("weight", ["0.3", None, True, [0.3]])
def test_non_numeric_weight_is_rejected_naming_the_step(weight: Any) -> None:
    with pytest.raises(ValueError, match=r"^step 'train' has progress_weight .* of type"):
        StepRegistry[BaseStepContext]().register(Step("train", weight))


@pytest.mark.parametrize("weight", [0, 0.0, 1, 2.5, 1e6])
def test_zero_and_large_weights_are_accepted(weight: float) -> None:
    registry = StepRegistry[BaseStepContext]()
    registry.register(Step("s", weight))
    assert registry.total_weight == weight


@pytest.mark.parametrize(
    "thing",
    [object(), "load_data", None, 42, lambda context: StepResult()],
    ids=["object", "str", "None", "int", "function"],
)
def test_non_step_object_is_a_type_error(thing: Any) -> None:
    registry = StepRegistry[BaseStepContext]()
    with pytest.raises(TypeError, match=r"^can only register BaseStep instances, got ") as raised:
        registry.register(thing)
    assert f"of type {type(thing).__name__}" in str(raised.value)
    assert "instead of an instance" not in str(raised.value)
    assert len(registry) == 0


def test_a_class_instead_of_an_instance_gets_a_hint() -> None:
    registry = StepRegistry[BaseStepContext]()
    with pytest.raises(TypeError, match=r"did you pass the class instead of an instance\?"):
        registry.register(Step)  # type: ignore[arg-type]


def test_total_weight_is_the_sum() -> None:
    registry = StepRegistry[BaseStepContext]()
    assert registry.total_weight == 0
    for name, weight in (("a", 0.1), ("b", 0.2), ("c", 0.7)):
        registry.register(Step(name, weight))
    assert registry.total_weight == 1.0  # exactly: the sum is compensated
    registry.unregister("c")
    assert registry.total_weight == pytest.approx(0.3)


def test_membership_iteration_and_names() -> None:
    registry = registry_of("a", "b")
    assert "a" in registry
    assert "z" not in registry
    assert registry.names == ["a", "b"]
    assert [s.name for s in registry] == ["a", "b"]


def test_text_repr_is_a_table() -> None:
    registry = StepRegistry[BaseStepContext]()
    registry.register(Step("load", 0.25))
    registry.register(LoggingStep(Step("train", 0.75)))
    assert repr(registry) == (
        "StepRegistry: 2 steps, total weight 1\n"
        "#  step          class              weight  share %  can_skip  rollback\n"
        "-  ------------  -----------------  ------  -------  --------  --------\n"
        "1  load          Step               0.25    25       -         -\n"
        "2  logged_train  LoggingStep(Step)  0.75    75       -         -"
    )
    assert repr(StepRegistry[BaseStepContext]()) == "StepRegistry: 0 steps, total weight 0"


def test_to_frame_columns_and_values() -> None:
    registry = StepRegistry[BaseStepContext]()
    registry.register(Step("a", 0))
    registry.register(Step("b", 0))
    frame = registry.to_frame()
    assert list(frame.columns) == [
        "order",
        "name",
        "step_class",
        "weight",
        "share_percent",
        "can_skip",
        "rollback",
    ]
    assert frame.to_dict("records") == [
        {
            "order": 1,
            "name": "a",
            "step_class": "Step",
            "weight": 0,
            "share_percent": 50.0,
            "can_skip": False,
            "rollback": False,
        },
        {
            "order": 2,
            "name": "b",
            "step_class": "Step",
            "weight": 0,
            "share_percent": 50.0,
            "can_skip": False,
            "rollback": False,
        },
    ]


def test_replace_puts_a_step_in_the_place_of_another() -> None:
    registry = registry_of("a", "b", "c")
    fixed = Step("b", 0.5)
    registry.replace("b", fixed)
    assert names(registry) == ["a", "b", "c"]
    assert registry.get_steps()[1] is fixed
    assert registry.total_weight == pytest.approx(0.7)
    registry.replace("c", Step("d"))  # another name is fine, when it is free
    assert names(registry) == ["a", "b", "d"]
    assert "c" not in registry
    assert "d" in registry


def test_replace_refuses_a_bad_step_and_keeps_the_old_one() -> None:
    registry = registry_of("a", "b")
    old = registry.get_steps()[1]
    with pytest.raises(StepDefinitionError, match="'a' is already registered"):
        registry.replace("b", Step("a"))
    with pytest.raises(StepDefinitionError, match="progress_weight -1"):
        registry.replace("b", Step("b", -1))
    with pytest.raises(UnknownStepError, match="no step named 'x'"):
        registry.replace("x", Step("x"))
    assert registry.get_steps()[1] is old
    assert names(registry) == ["a", "b"]
    assert "b" in registry
    registry.register(Step("c"))  # the registry is still consistent
    assert registry.total_weight == pytest.approx(0.3)


def test_a_weight_that_makes_the_total_overflow_is_refused() -> None:
    registry = StepRegistry[BaseStepContext]()
    registry.register(Step("a", 1e308))
    with pytest.raises(StepDefinitionError, match="overflow") as raised:
        registry.register(Step("b", 1e308))
    assert isinstance(raised.value, ValueError)
    assert names(registry) == ["a"]
    assert math.isfinite(registry.total_weight)
    registry.register(Step("c", 1.0))  # a small one still fits


def test_a_duplicate_is_found_among_many_steps() -> None:
    registry = registry_of(*(f"s{i}" for i in range(5000)))
    with pytest.raises(StepDefinitionError, match="'s4999' is already registered"):
        registry.register(Step("s4999"))
    registry.unregister("s4999")
    registry.register(Step("s4999"))  # free again once unregistered
    assert len(registry) == 5000
