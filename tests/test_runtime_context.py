"""``RuntimeContext``: logger fan-out and checks, display modes, lifecycle hook delivery."""

from __future__ import annotations

from typing import Any

import pytest

from synapse_steps import RuntimeContext as ExportedRuntimeContext
from synapse_steps.context import RuntimeContext
from synapse_steps.display.console import ConsoleLogger
from synapse_steps.events import HOOK_NAMES, RunProgress, StepStarted
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
    assert runtime.recorder is None


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


def test_logger_missing_methods_is_a_type_error_naming_them() -> None:
    with pytest.raises(TypeError) as raised:
        RuntimeContext(logger=Partial())  # type: ignore[arg-type]
    message = str(raised.value)
    assert "of type Partial lacks set_progress, set_metrics()" in message
    assert "a logger needs log(event, data, file=None)" in message


def test_each_logger_of_a_list_is_checked(list_logger: Any) -> None:
    with pytest.raises(TypeError, match=r"of type object lacks log, set_progress, set_metrics\(\)"):
        RuntimeContext(logger=[list_logger, object()])  # type: ignore[list-item]


def test_a_string_is_not_a_list_of_loggers() -> None:
    with pytest.raises(TypeError, match=r"of type str lacks log, set_progress, set_metrics"):
        RuntimeContext(logger="console")  # type: ignore[arg-type]


def test_logger_methods_must_be_callable() -> None:
    class NotCallable(Partial):
        set_progress = None
        set_metrics = 3

    with pytest.raises(TypeError, match="lacks set_progress, set_metrics"):
        RuntimeContext(logger=NotCallable())  # type: ignore[arg-type]


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
        "use one of: auto, widgets, text, console, off"
    )


def test_unknown_display_env_var_lists_the_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "Jupyter")
    with pytest.raises(ValueError, match="unknown display mode") as raised:
        RuntimeContext()
    assert str(raised.value) == (
        "unknown display mode 'jupyter' from the SYNAPSE_STEPS_DISPLAY environment variable; "
        "use one of: auto, widgets, text, console, off"
    )


def test_empty_env_var_means_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DISPLAY", "")
    assert [type(lg) for lg in RuntimeContext().loggers] == [ConsoleLogger]


# -- lifecycle hooks ---------------------------------------------------------------------------


def test_hook_names_cover_every_record_and_the_shared_fixture(hook_logger: Any) -> None:
    assert sorted(HOOK_NAMES.values()) == [
        "on_run_end",
        "on_run_progress",
        "on_run_start",
        "on_step_end",
        "on_step_fail",
        "on_step_rollback",
        "on_step_skip",
        "on_step_start",
    ]
    assert all(callable(getattr(hook_logger, name)) for name in HOOK_NAMES.values())


def test_wants_and_emit(list_logger: Any, hook_logger: Any) -> None:
    basic = RuntimeContext(logger=list_logger)
    assert not any(basic.wants(record_type) for record_type in HOOK_NAMES)
    basic.emit(StepStarted(0, "a", 1.0))  # no hook: nothing happens

    class OnlyStart:
        log = set_progress = set_metrics = Partial.log

        def __init__(self) -> None:
            self.got: list[Any] = []

        def on_step_start(self, record: Any) -> None:
            self.got.append(record)

    only = OnlyStart()
    rich = RuntimeContext(logger=[list_logger, only, hook_logger])
    assert rich.wants(StepStarted) is True
    assert rich.wants(RunProgress) is True  # hook_logger has every hook
    assert RuntimeContext(logger=only).wants(RunProgress) is False
    record = StepStarted(0, "a", 1.0)
    rich.emit(record)
    assert only.got == [record]
    assert hook_logger.records == [record]
    assert list_logger.calls == []  # lifecycle records never reach the basic methods


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
    with pytest.warns(RuntimeWarning, match=r"^logger Flaky raised in on_step_start: "):
        runtime.emit(StepStarted(0, "a", 1.0))
    runtime.emit(StepStarted(1, "b", 2.0))
    runtime.emit(RunProgress(50, 100, 3.0))
    assert flaky.calls == 1
    assert [r.name for r in hook_logger.records[:2]] == ["a", "b"]
    assert len(hook_logger.records) == 3
    assert runtime.wants(StepStarted) is True  # hook_logger still listens


def test_recorder_property_finds_a_recorder_or_a_display_s(list_logger: Any) -> None:
    recorder = Recorder()
    assert RuntimeContext(logger=[list_logger, recorder]).recorder is recorder
    console = ConsoleLogger(recorder=recorder)
    assert RuntimeContext(logger=console).recorder is recorder
    assert RuntimeContext(logger=list_logger).recorder is None
