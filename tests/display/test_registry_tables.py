"""A registry in a cell: an HTML table, a text table and a DataFrame that say the same."""

from __future__ import annotations

import pandas as pd

from synapse_steps.steps import (
    BaseStep,
    BaseStepContext,
    LoggingStep,
    StepRegistry,
    StepResult,
    TimingStep,
)


class Load(BaseStep[BaseStepContext]):
    name = "load_data"  # type: ignore[assignment]
    progress_weight = 0.25  # type: ignore[assignment]

    def execute(self, context: BaseStepContext) -> StepResult:
        return StepResult()


class Cached(Load):
    name = "cached"  # type: ignore[assignment]
    progress_weight = 0.125  # type: ignore[assignment]

    def can_skip(self, context: BaseStepContext) -> bool:
        return True


class Train(Load):
    name = "train"  # type: ignore[assignment]
    progress_weight = 0.5  # type: ignore[assignment]

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        pass


class Both(Cached):
    name = "upload"  # type: ignore[assignment]
    progress_weight = 0.125  # type: ignore[assignment]

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        pass


def registry() -> StepRegistry[BaseStepContext]:
    steps = StepRegistry[BaseStepContext]()
    steps.register(Load())
    steps.register(TimingStep(Cached()))
    steps.register(LoggingStep(TimingStep(Train())))
    steps.register(Both())
    return steps


def test_text_table() -> None:
    assert repr(registry()) == (
        "StepRegistry: 4 steps, total weight 1\n"
        "#  step                class                           weight  share %  can_skip"
        "  rollback\n"
        "-  ------------------  ------------------------------  ------  -------  --------"
        "  --------\n"
        "1  load_data           Load                            0.25    25       -         -\n"
        "2  timed_cached        TimingStep(Cached)              0.125   12.5     yes       -\n"
        "3  logged_timed_train  LoggingStep(TimingStep(Train))  0.5     50       -         yes\n"
        "4  upload              Both                            0.125   12.5     yes       yes"
    )


def test_html_table() -> None:
    columns = ("#", "step", "class", "weight", "share %", "can_skip", "rollback")
    head = "".join(f'<th style="text-align:left">{c}</th>' for c in columns)
    body = "".join(
        "<tr>" + "".join(f'<td style="text-align:left">{v}</td>' for v in row) + "</tr>"
        for row in [
            ("1", "load_data", "Load", "0.25", "25", "-", "-"),
            ("2", "timed_cached", "TimingStep(Cached)", "0.125", "12.5", "yes", "-"),
            ("3", "logged_timed_train", "LoggingStep(TimingStep(Train))", "0.5", "50", "-", "yes"),
            ("4", "upload", "Both", "0.125", "12.5", "yes", "yes"),
        ]
    )
    assert registry()._repr_html_() == (
        '<table class="synapse-steps">'
        '<caption style="text-align:left">StepRegistry: 4 steps, total weight 1</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def test_frame() -> None:
    expected = pd.DataFrame(
        [
            (1, "load_data", "Load", 0.25, 25.0, False, False),
            (2, "timed_cached", "TimingStep(Cached)", 0.125, 12.5, True, False),
            (3, "logged_timed_train", "LoggingStep(TimingStep(Train))", 0.5, 50.0, False, True),
            (4, "upload", "Both", 0.125, 12.5, True, True),
        ],
        columns=["order", "name", "step_class", "weight", "share_percent", "can_skip", "rollback"],
    )
    pd.testing.assert_frame_equal(registry().to_frame(), expected)


def test_empty_and_zero_weight_registries() -> None:
    empty = StepRegistry[BaseStepContext]()
    assert repr(empty) == "StepRegistry: 0 steps, total weight 0"
    assert len(empty.to_frame()) == 0

    class Free(Load):
        progress_weight = 0.0  # type: ignore[assignment]

    class AlsoFree(Free):
        name = "other"  # type: ignore[assignment]

    zero = StepRegistry[BaseStepContext]()
    zero.register(Free())
    zero.register(AlsoFree())
    # All weights zero: each step counts the same, as the run's progress bar does.
    assert list(zero.to_frame()["share_percent"]) == [50.0, 50.0]


def test_html_escapes_names() -> None:
    class Odd(Load):
        name = "<b>&odd"  # type: ignore[assignment]

    steps = StepRegistry[BaseStepContext]()
    steps.register(Odd())
    assert '<td style="text-align:left">&lt;b&gt;&amp;odd</td>' in steps._repr_html_()
