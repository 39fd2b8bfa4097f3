"""Which front end a run gets, decided at call time; and what importing the package loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from synapse_steps.context import RuntimeContext
from synapse_steps.display import auto
from synapse_steps.display import kernel as kernel_module
from synapse_steps.display.auto import choose_display, default_logger
from synapse_steps.display.console import ConsoleLogger
from synapse_steps.display.html import HtmlLogger
from synapse_steps.errors import ConfigurationError


def where(monkeypatch: pytest.MonkeyPatch, *, kernel: bool, widgets: bool, env: str | None) -> None:
    monkeypatch.setattr(kernel_module, "in_notebook_kernel", lambda: kernel)
    monkeypatch.setattr(auto, "ipywidgets_available", lambda: widgets)
    if env is None:
        monkeypatch.delenv(auto.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(auto.ENV_VAR, env)


@pytest.mark.parametrize(
    ("kernel", "widgets", "env", "argument", "expected"),
    [
        # automatic choice
        (False, True, None, None, "console"),
        (True, True, None, None, "widgets"),
        (True, False, None, None, "text"),
        (True, True, "auto", None, "widgets"),
        # the environment switch
        (True, True, "text", None, "text"),
        (True, True, "console", None, "console"),
        (True, True, "off", None, "off"),
        (False, True, "off", None, "off"),
        (True, True, " Widgets ", None, "widgets"),
        (True, False, "widgets", None, "widgets"),  # asked for: the logger falls back itself
        # widgets and HTML need a notebook front end
        (False, True, "widgets", None, "console"),
        (False, True, "text", None, "console"),
        # the argument wins over the environment
        (True, True, "off", "widgets", "widgets"),
        (True, True, "widgets", "text", "text"),
        (True, True, "widgets", "off", "off"),
        (False, True, None, "console", "console"),
        (True, True, "", None, "widgets"),  # empty variable: as if unset
    ],
)
def test_choose_display(
    monkeypatch: pytest.MonkeyPatch,
    kernel: bool,
    widgets: bool,
    env: str | None,
    argument: str | None,
    expected: str,
) -> None:
    where(monkeypatch, kernel=kernel, widgets=widgets, env=env)
    assert choose_display(argument) == expected


@pytest.mark.parametrize(
    ("argument", "env", "source"),
    [("wigdets", None, "display argument"), (None, "html", "SYNAPSE_STEPS_DISPLAY environment")],
)
def test_unknown_mode_says_where_it_came_from(
    monkeypatch: pytest.MonkeyPatch, argument: str | None, env: str | None, source: str
) -> None:
    where(monkeypatch, kernel=True, widgets=True, env=env)
    with pytest.raises(ConfigurationError, match=source) as raised:
        choose_display(argument)
    assert isinstance(raised.value, ValueError)
    assert "widgets, compact, text, console, off" in str(raised.value)


def test_default_logger_per_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from synapse_steps.display.notebook import NotebookLogger

    where(monkeypatch, kernel=True, widgets=True, env=None)
    assert [type(lg) for lg in default_logger()] == [NotebookLogger]
    assert [type(lg) for lg in default_logger("text")] == [HtmlLogger]
    assert [type(lg) for lg in default_logger("console")] == [ConsoleLogger]
    assert default_logger("off") == []
    assert [type(lg) for lg in RuntimeContext().loggers] == [NotebookLogger]
    assert RuntimeContext(display="off").loggers == ()
    monkeypatch.setenv(auto.ENV_VAR, "console")
    assert [type(lg) for lg in RuntimeContext().loggers] == [ConsoleLogger]
    assert [type(lg) for lg in RuntimeContext(display="widgets").loggers] == [NotebookLogger]


def test_widgets_that_fail_to_load_fall_back_to_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    where(monkeypatch, kernel=True, widgets=True, env=None)
    monkeypatch.setitem(sys.modules, "synapse_steps.display.notebook", None)  # import fails
    with pytest.warns(RuntimeWarning, match="live widgets unavailable"):
        loggers = default_logger()
    assert [type(lg) for lg in loggers] == [HtmlLogger]


def test_outside_a_kernel_by_default() -> None:
    assert kernel_module.in_notebook_kernel() is False
    assert auto.ipywidgets_available() is True


def test_html_logger_hints_once_and_ends_with_a_summary(
    monkeypatch: pytest.MonkeyPatch, shown: list[Any]
) -> None:
    from display_helpers import Step, run

    from synapse_steps.display import html

    monkeypatch.setattr(html, "_hint_shown", False)
    first, second = HtmlLogger(), HtmlLogger()
    run(first, Step("a", 1.0, metrics=True))
    run(second, Step("b", 1.0))
    assert shown[0] == {"text/plain": html.HINT}
    assert [sorted(obj) for obj in shown[1:]] == [
        ["text/html", "text/plain"],
        ["image/png", "text/plain"],
        ["text/html", "text/plain"],  # the second run: no hint again, no metrics figure
    ]
    assert shown[1]["text/plain"].startswith("✔ succeeded - 1 of 1 steps executed · ")
    assert "\x1b" not in json.dumps([o["text/plain"] for o in shown])  # no ANSI codes


def test_the_install_hint_only_when_widgets_were_wanted(
    monkeypatch: pytest.MonkeyPatch, shown: list[Any]
) -> None:
    from display_helpers import Step, run

    from synapse_steps.display import html

    where(monkeypatch, kernel=True, widgets=False, env=None)
    (missing,) = default_logger()  # widgets wanted (auto) but not installed: hint
    assert (type(missing), missing.hint) == (HtmlLogger, True)
    where(monkeypatch, kernel=True, widgets=True, env="widgets")
    monkeypatch.setitem(sys.modules, "synapse_steps.display.notebook", None)  # import fails
    with pytest.warns(RuntimeWarning, match="live widgets unavailable"):
        (broken,) = default_logger()
    assert (type(broken), broken.hint) == (HtmlLogger, True)
    where(monkeypatch, kernel=True, widgets=True, env=None)
    (chosen,) = default_logger("text")  # tables chosen on purpose: no hint
    assert (type(chosen), chosen.hint) == (HtmlLogger, False)
    monkeypatch.setenv(auto.ENV_VAR, "text")
    (from_env,) = default_logger()
    assert from_env.hint is False

    monkeypatch.setattr(html, "_hint_shown", False)
    run(chosen, Step("a", 1.0))
    assert [sorted(obj) for obj in shown] == [["text/html", "text/plain"]]  # no hint


SCRIPT = """
import json, sys
import synapse_steps
from synapse_steps import BaseStepContext, Orchestrator, RuntimeContext, StepRegistry
from synapse_steps.steps import ValidationStep
import synapse_steps.display

registry = StepRegistry()
registry.register(ValidationStep(lambda context: (True, None)))
repr(registry)
registry._repr_html_()
context = BaseStepContext(runtime_ctx=RuntimeContext())
Orchestrator(registry, context).execute()
print(json.dumps({
    "loaded": sorted(m for m in ("ipywidgets", "matplotlib", "pandas") if m in sys.modules),
    "loggers": [type(lg).__name__ for lg in context.runtime_ctx.loggers],
}))
"""


def test_importing_and_running_in_a_terminal_loads_no_display_library(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        check=True,
        # The run journals into the store root: a folder of the test's own.
        env={"PATH": "/usr/bin:/bin", "SYNAPSE_STEPS_HOME": str(tmp_path / "home")},
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"loaded": [], "loggers": ["ConsoleLogger"]}


def test_front_ends_import_from_the_display_package_only_when_asked() -> None:
    script = (
        "import sys\n"
        "import synapse_steps.display as display\n"
        "assert 'ipywidgets' not in sys.modules\n"
        "from synapse_steps.display import NotebookLogger\n"
        "assert 'ipywidgets' in sys.modules\n"
        "assert NotebookLogger.__module__ == 'synapse_steps.display.notebook'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
