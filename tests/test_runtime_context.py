"""``RuntimeContext``: logger fan-out and checks, display modes, lifecycle hook delivery."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import pytest

from synapse_steps import RuntimeContext as ExportedRuntimeContext
from synapse_steps.clock import SYSTEM_CLOCK
from synapse_steps.context import RuntimeContext
from synapse_steps.display.console import ConsoleLogger
from synapse_steps.errors import UsageError
from synapse_steps.events import (
    HOOK_NAMES,
    Logged,
    PlannedStep,
    RunProgress,
    RunStarted,
    StepFinished,
    StepStarted,
)
from synapse_steps.recorder import Recorder


class Partial:
    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
        pass


def test_public_import_paths() -> None:
    assert ExportedRuntimeContext is RuntimeContext


def test_attributes_are_optional_with_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "off")
    runtime = RuntimeContext()
    assert runtime.env == {}
    assert runtime.job_id is None
    assert runtime.loggers == ()
    assert runtime.logger is None
    # Even without any front end the runtime owns its one store, reading the runtime's clock.
    assert isinstance(runtime.recorder, Recorder)
    assert runtime.clock is SYSTEM_CLOCK
    assert runtime.recorder.clock is SYSTEM_CLOCK
    assert runtime.recorder.subscribers == ()


def test_explicit_client_env_and_job_id() -> None:
    client = object()
    env = {"A": "1"}
    runtime = RuntimeContext(display="off", client=client, env=env, job_id="job-7")
    assert runtime.client is client
    assert runtime.env == {"A": "1"}
    env["B"] = "2"
    assert runtime.env == {"A": "1"}  # copied
    assert runtime.job_id == "job-7"
    runtime.client = None
    assert runtime.client is None
    assert repr(runtime) == "RuntimeContext(loggers=[no loggers], client=NoneType, job_id='job-7')"


def test_single_logger(list_logger: Any) -> None:
    runtime = RuntimeContext(logger=list_logger)
    assert runtime.loggers == (list_logger,)
    assert runtime.logger is list_logger
    runtime.log("e", {"k": 1}, "f.txt")
    runtime.set_progress(1, 3, "cat")
    runtime.set_metrics({"m": 2.0})
    assert list_logger.calls == [
        ("log", "e", {"k": 1}, "f.txt"),
        ("set_progress", 1, 3, "cat"),
        ("set_metrics", {"m": 2.0}, None),
    ]


def test_multiple_loggers_fan_out_in_order(list_logger: Any, hook_logger: Any) -> None:
    order: list[str] = []

    class Tagged:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
            order.append(f"{self.tag}:log:{event}")

        def set_progress(self, current: int, total: int, category: str | None = None) -> None:
            order.append(f"{self.tag}:progress:{current}")

        def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
            order.append(f"{self.tag}:metrics")

    runtime = RuntimeContext(logger=[Tagged("a"), list_logger, Tagged("b"), hook_logger])
    runtime.log("x", {})
    runtime.set_progress(2, 4)
    runtime.set_metrics({"v": 1})

    assert order == [
        "a:log:x",
        "b:log:x",
        "a:progress:2",
        "b:progress:2",
        "a:metrics",
        "b:metrics",
    ]
    expected = [
        ("log", "x", {}, None),
        ("set_progress", 2, 4, None),
        ("set_metrics", {"v": 1}, None),
    ]
    assert list_logger.calls == expected
    assert hook_logger.calls == expected
    assert len(runtime.loggers) == 4


def test_tuple_of_loggers_and_empty_list(list_logger: Any) -> None:
    assert RuntimeContext(logger=(list_logger,)).loggers == (list_logger,)
    silent = RuntimeContext(logger=[])
    assert silent.loggers == ()
    silent.log("nobody", {})  # goes nowhere, does not fail


HOOKS_LISTED = (
    "on_log, on_metrics, on_progress, on_rollback_start, on_run_end, on_run_notice, "
    "on_run_progress, on_run_start, on_step_end, on_step_fail, on_step_reuse, on_step_rollback, "
    "on_step_skip, on_step_start"
)
METHODS_LISTED = (
    "the logger methods log(event, data=None, file=None), set_progress(current, total, "
    "category=None), set_metrics(value, category=None)"
)


def test_logger_missing_methods_is_a_type_error_naming_them() -> None:
    partial = Partial()
    with pytest.raises(UsageError) as raised:
        RuntimeContext(logger=partial)  # type: ignore[arg-type]
    assert isinstance(raised.value, TypeError)
    assert str(raised.value) == (
        f"logger {partial!r} of type Partial has neither {METHODS_LISTED} nor any hook "
        f"({HOOKS_LISTED})"
    )


def test_each_logger_of_a_list_is_checked(list_logger: Any) -> None:
    with pytest.raises(
        UsageError, match=r"of type object has neither the logger methods log\(event"
    ) as raised:
        RuntimeContext(logger=[list_logger, object()])  # type: ignore[list-item]
    assert f"nor any hook ({HOOKS_LISTED})" in str(raised.value)


def test_a_string_is_not_a_list_of_loggers() -> None:
    with pytest.raises(TypeError, match=r"^logger 'console' of type str has neither the logger"):
        RuntimeContext(logger="console")  # type: ignore[arg-type]


def test_logger_methods_must_be_callable() -> None:
    class NotCallable(Partial):
        set_progress = None
        set_metrics = 3

    with pytest.raises(UsageError, match="of type NotCallable has neither the logger methods"):
        RuntimeContext(logger=NotCallable())  # type: ignore[arg-type]


def test_an_object_with_only_hooks_is_a_subscriber_not_a_logger() -> None:
    class OnlyHooks:
        def __init__(self) -> None:
            self.got: list[Any] = []

        def on_log(self, record: Any) -> None:
            self.got.append(record)

    only = OnlyHooks()
    runtime = RuntimeContext(logger=only)
    assert runtime.loggers == (only,)
    assert runtime.recorder.subscribers == (only,)
    runtime.log("seen", {"k": 1})
    assert [(r.event, r.data) for r in only.got] == [("seen", {"k": 1})]


def test_a_misspelt_hook_warns_naming_it_and_the_known_hooks(list_logger: Any) -> None:
    class Typo:
        def on_step_started(self, record: Any) -> None:
            pass

        def on_step_end(self, record: Any) -> None:
            pass

    with pytest.warns(UserWarning, match="not a known hook") as caught:
        RuntimeContext(logger=Typo())
    assert [str(w.message) for w in caught] == [
        "Typo.on_step_started is not a known hook and will never be called; known hooks: "
        + HOOKS_LISTED
    ]


# -- display modes ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["console", "CONSOLE", " console ", "auto", "widgets", "text"])
def test_console_modes_outside_a_notebook(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    runtime = RuntimeContext(display=mode)
    assert [type(lg) for lg in runtime.loggers] == [ConsoleLogger]
    assert isinstance(runtime.recorder, Recorder)


def test_default_outside_a_notebook_is_the_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    assert [type(lg) for lg in RuntimeContext().loggers] == [ConsoleLogger]


@pytest.mark.parametrize("value", ["off", "OFF", "Off"])
def test_off_gives_no_loggers(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    assert RuntimeContext(display=value).loggers == ()
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", value)
    assert RuntimeContext().loggers == ()


def test_argument_overrides_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "off")
    assert [type(lg) for lg in RuntimeContext(display="console").loggers] == [ConsoleLogger]
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "console")
    assert RuntimeContext(display="off").loggers == ()


def test_explicit_logger_ignores_display(list_logger: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "bogus")
    assert RuntimeContext(logger=list_logger).loggers == (list_logger,)
    assert RuntimeContext(logger=list_logger, display="off").loggers == (list_logger,)


def test_unknown_display_argument_lists_the_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    with pytest.raises(ValueError, match="unknown display mode") as raised:
        RuntimeContext(display="fancy")
    assert str(raised.value) == (
        "unknown display mode 'fancy' from the display argument; "
        "use one of: auto, widgets, compact, text, console, off"
    )


def test_unknown_display_env_var_lists_the_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "Jupyter")
    with pytest.raises(ValueError, match="unknown display mode") as raised:
        RuntimeContext()
    assert str(raised.value) == (
        "unknown display mode 'jupyter' from the SYNAPSE_STEPS_DISPLAY environment variable; "
        "use one of: auto, widgets, compact, text, console, off"
    )


def test_empty_env_var_means_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "")
    assert [type(lg) for lg in RuntimeContext().loggers] == [ConsoleLogger]


# -- lifecycle hooks ---------------------------------------------------------------------------

LIFECYCLE_HOOKS = [
    "on_rollback_start",
    "on_run_end",
    "on_run_notice",
    "on_run_progress",
    "on_run_start",
    "on_step_end",
    "on_step_fail",
    "on_step_reuse",
    "on_step_rollback",
    "on_step_skip",
    "on_step_start",
]


def test_hook_names_cover_every_record_and_the_shared_fixture(hook_logger: Any) -> None:
    assert sorted(HOOK_NAMES.values()) == sorted(
        [*LIFECYCLE_HOOKS, "on_log", "on_progress", "on_metrics"]
    )
    assert len(set(HOOK_NAMES.values())) == len(HOOK_NAMES)  # one hook per record type
    # The shared fixture has every lifecycle hook; the steps' calls reach its plain methods.
    assert all(callable(getattr(hook_logger, name)) for name in LIFECYCLE_HOOKS)
    assert not any(hasattr(hook_logger, name) for name in ("on_log", "on_progress", "on_metrics"))


def _two_step_start(time: float = 0.5) -> RunStarted:
    plan = (
        PlannedStep(0, "a", 1.0, 0.5, 0.0, 0.5, "Probe", None),
        PlannedStep(1, "b", 1.0, 0.5, 0.5, 1.0, "Probe", None),
    )
    return RunStarted(1, plan, time, 1_700_000_000.0, "Test")


def test_publish_reaches_the_subscribers_hooks_only(list_logger: Any, hook_logger: Any) -> None:
    basic = RuntimeContext(logger=list_logger)
    assert basic.recorder.subscribers == ()  # a plain logger is no subscriber
    basic.publish(_two_step_start())
    basic.publish(StepStarted(0, "a", 1.0))  # no hook: only the store folds it
    assert basic.recorder.run.steps[0].status == "running"
    assert list_logger.calls == []

    class OnlyStart:
        log = set_progress = set_metrics = Partial.log

        def __init__(self) -> None:
            self.got: list[Any] = []

        def on_step_start(self, record: Any) -> None:
            self.got.append(record)

    only = OnlyStart()
    rich = RuntimeContext(logger=[list_logger, only, hook_logger])
    assert rich.recorder.subscribers == (only, hook_logger)
    start = _two_step_start()
    record = StepStarted(0, "a", 1.0)
    progress = RunProgress(50, 100, 2.0)
    rich.publish(start)
    rich.publish(record)
    rich.publish(progress)
    assert only.got == [record]  # only the hook it defines
    assert hook_logger.records == [start, record, progress]
    assert list_logger.calls == []  # lifecycle records never reach the basic methods
    # The store folded every one; the overall progress it takes from the plan, when a step
    # completes (RunProgress is for the subscribers that want it).
    assert rich.recorder.run.completed_fraction == 0.0
    rich.publish(StepFinished(0, "a", 1.0, 2.0))
    assert rich.recorder.run.completed_fraction == 0.5

    alone = RuntimeContext(logger=OnlyStart())
    alone.publish(_two_step_start())
    alone.publish(RunProgress(50, 100, 2.0))
    assert alone.logger.got == []


def test_steps_calls_reach_the_store_then_the_plain_loggers(list_logger: Any) -> None:
    class OnLog:
        def __init__(self) -> None:
            self.got: list[Any] = []

        def on_log(self, record: Any) -> None:
            self.got.append(record)

    subscriber = OnLog()
    runtime = RuntimeContext(logger=[list_logger, subscriber])
    runtime.log("loaded", {"n": 3}, "a.txt")
    runtime.log("no_data")
    assert [(e.event, e.data, e.file) for e in runtime.recorder.events] == [
        ("loaded", {"n": 3}, "a.txt"),
        ("no_data", {}, None),
    ]
    assert [type(r) for r in subscriber.got] == [Logged, Logged]
    assert [(r.event, r.data, r.file) for r in subscriber.got] == [
        ("loaded", {"n": 3}, "a.txt"),
        ("no_data", {}, None),
    ]
    assert list_logger.calls == [
        ("log", "loaded", {"n": 3}, "a.txt"),
        ("log", "no_data", {}, None),
    ]

    class SeesTheStore(Partial):
        set_progress = set_metrics = Partial.log

        def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
            stored.append([e.event for e in runtime.recorder.events])

    stored: list[list[str]] = []
    runtime = RuntimeContext(logger=SeesTheStore())
    runtime.log("first")
    assert stored == [["first"]]  # the store had it before the plain logger was called


def test_raising_hook_warns_and_its_owner_is_disabled(hook_logger: Any) -> None:
    class Flaky(Partial):
        set_progress = set_metrics = Partial.log

        def __init__(self) -> None:
            self.calls = 0

        def on_step_start(self, record: Any) -> None:
            self.calls += 1
            raise RuntimeError("bad widget")

        def on_run_progress(self, record: Any) -> None:
            self.calls += 1

    flaky = Flaky()
    runtime = RuntimeContext(logger=[flaky, hook_logger])
    runtime.publish(_two_step_start())
    with pytest.warns(RuntimeWarning) as caught:
        runtime.publish(StepStarted(0, "a", 1.0))
    assert [str(w.message) for w in caught] == [
        "Flaky raised in on_step_start: RuntimeError('bad widget'); it receives no more records "
        "from this runtime"
    ]
    runtime.publish(StepStarted(1, "b", 2.0))
    runtime.publish(RunProgress(50, 100, 3.0))
    assert flaky.calls == 1  # none of its hooks is called any more
    assert [r.name for r in hook_logger.records[1:3]] == ["a", "b"]
    assert len(hook_logger.records) == 4
    assert runtime.recorder.subscribers == (hook_logger,)  # hook_logger still listens


def test_the_store_is_the_given_recorder_or_one_of_the_runtime_s_own(list_logger: Any) -> None:
    recorder = Recorder()
    adopted = RuntimeContext(logger=[list_logger, recorder])
    assert adopted.recorder is recorder
    assert adopted.loggers == (list_logger,)  # the store is not a second logger
    adopted.log("once", {})
    assert [e.event for e in recorder.events] == ["once"]  # recorded once, not twice
    console = ConsoleLogger()
    with_console = RuntimeContext(logger=console)
    assert console.recorder is with_console.recorder
    assert console.clock is with_console.clock
    own = RuntimeContext(logger=list_logger)
    assert isinstance(own.recorder, Recorder)
    assert own.recorder is not recorder
    own.set_metrics({"m": 1.0})
    assert own.recorder.run.metrics.latest() == {"metrics": {"m": 1.0}}


def test_an_adopted_recorder_reads_the_runtime_s_clock() -> None:
    """One clock per runtime: a Recorder given as the store must not keep the system clock."""

    class Fixed:
        def now(self) -> float:
            return 5.0

        def wall(self) -> float:
            return 1_700_000_000.0

    clock = Fixed()
    recorder = Recorder()
    runtime = RuntimeContext(logger=recorder, clock=clock)  # type: ignore[arg-type]
    runtime.log("e")
    received: list[Any] = []

    class OnMetrics:
        def on_metrics(self, record: Any) -> None:
            received.append(record)

    recorder.subscribe(OnMetrics())
    runtime.set_metrics({"m": 1.0})
    assert recorder.events[-1].time == 1_700_000_000.0
    assert [r.time for r in received] == [5.0]


def test_the_misspelt_hook_warning_points_at_the_runtime_s_creation() -> None:
    class Typo:
        def on_step_started(self, record: Any) -> None:
            pass

        def on_run_end(self, record: Any) -> None:
            pass

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        RuntimeContext(logger=Typo())  # the line the user must look at
    assert [(w.category, w.filename, w.lineno) for w in caught] == [(UserWarning, __file__, line)]


def test_the_subscriber_protocol_lists_every_hook() -> None:
    from synapse_steps.logging_protocol import Subscriber

    listed = {name for name in vars(Subscriber) if name.startswith("on_")}
    assert listed == set(HOOK_NAMES.values())
