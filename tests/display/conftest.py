"""Fixtures for the display tests: a manual runtime clock, captured displays, configurable steps.

Nothing here needs a notebook front end: ipywidgets objects work without one (their traits are
plain values), and ``show`` (IPython's ``display``) is replaced by a list that keeps what a cell
would have shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from display_helpers import Clock


@pytest.fixture
def clock() -> Clock:
    """A stopped clock for one test's runtimes: ``clock.runtime(logger)``, ``run(..., clock=)``.

    Everything a runtime times (event times, durations, refresh throttles) reads its clock, so a
    runtime built on this one is frozen until the test calls ``clock.advance``.
    """
    return Clock()


class Shown(list[Any]):
    """What a cell displayed, in order; ``replaced``: (what was displayed, what replaced it)."""

    def __init__(self) -> None:
        super().__init__()
        self.replaced: list[tuple[Any, Any]] = []


class Handle:
    """A display handle: its ``update`` is recorded in ``Shown.replaced``."""

    def __init__(self, outputs: Shown, obj: Any) -> None:
        self.outputs, self.obj = outputs, obj

    def update(self, obj: Any, *, raw: bool = False) -> None:
        self.outputs.replaced.append((self.obj, obj))


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> Shown:
    """What the cell would display, in order (widgets, raw MIME bundles)."""
    import synapse_steps.display.html as html_display
    import synapse_steps.display.kernel as kernel
    import synapse_steps.display.notebook as notebook
    import synapse_steps.display.summary as summary

    outputs = Shown()

    def show(obj: Any, *, raw: bool = False) -> None:
        outputs.append(obj)

    def show_live(obj: Any) -> Handle:
        outputs.append(obj)
        return Handle(outputs, obj)

    for module in (summary, html_display):
        monkeypatch.setattr(module, "show", show)
    monkeypatch.setattr(notebook, "show_live", show_live)
    monkeypatch.setattr(summary, "show_live", show_live)  # the sweep view's
    # What is shown goes to this list, as in a kernel: NotebookLogger draws instead of falling
    # back to console lines (tests/display/test_notebook_fallback.py covers the fallback).
    monkeypatch.setattr(kernel, "in_notebook_kernel", lambda: True)
    return outputs


@pytest.fixture(autouse=True)
def _close_views() -> Iterator[None]:
    """Close the views a test left open, so no test sees another one's views."""
    yield
    from synapse_steps.display import notebook

    for view in list(notebook._views):
        view.close()
