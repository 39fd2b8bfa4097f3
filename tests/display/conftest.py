"""Fixtures for the display tests: a manual clock, captured displays, configurable steps.

Nothing here needs a notebook front end: ipywidgets objects work without one (their traits are
plain values), and ``show`` (IPython's ``display``) is replaced by a list that keeps what a cell
would have shown.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from display_helpers import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze every clock the run and its display read (event times, refresh throttles)."""
    import synapse_steps.display.notebook as notebook
    import synapse_steps.recorder as recorder
    import synapse_steps.run_state as run_state
    import synapse_steps.steps.orchestrator as orchestrator

    fake = Clock()
    monkeypatch.setattr(orchestrator, "now", fake)
    monkeypatch.setattr(run_state, "now", fake)
    monkeypatch.setattr(notebook, "perf_counter", fake)
    monkeypatch.setattr(recorder, "time", SimpleNamespace(time=fake.time))
    return fake


@pytest.fixture
def shown(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What the cell would display, in order (widgets, raw MIME bundles)."""
    import synapse_steps.display.html as html_display
    import synapse_steps.display.notebook as notebook
    import synapse_steps.display.summary as summary

    outputs: list[Any] = []

    def show(obj: Any, *, raw: bool = False) -> None:
        outputs.append(obj)

    for module in (summary, notebook, html_display):
        monkeypatch.setattr(module, "show", show)
    return outputs


@pytest.fixture(autouse=True)
def _close_views() -> Iterator[None]:
    """Close the views a test left open, so no test sees another one's views."""
    yield
    from synapse_steps.display import notebook

    for view in list(notebook._views):
        view.close()
