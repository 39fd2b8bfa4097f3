"""The composition module: installs the defaults the core offers into ``synapse_steps.wiring``.

Imported by ``import synapse_steps``. It sits above the core and every layer, so it may name
them all; each factory imports its layer only when called, so importing the package stays
light (no display, backend, journal or heavy library is imported here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synapse_steps.wiring import WIRING


def _front_ends(display: str | None) -> list[object]:
    from synapse_steps.display.auto import default_logger

    return default_logger(display)


def _client() -> Any:
    from synapse_steps.backends.local import LocalBackend

    return LocalBackend()


def _journal(setting: Any, workflow: str) -> object:
    from synapse_steps.journal.writer import JournalWriter

    return JournalWriter(None if setting is True else setting, workflow)


def _steps_frame(run: Any) -> Any:
    from synapse_steps.display.frames import steps_frame

    return steps_frame(run)


def _metrics_frame(store: Any) -> Any:
    from synapse_steps.display.frames import metrics_frame

    return metrics_frame(store)


def _events_frame(events: Any) -> Any:
    from synapse_steps.display.frames import events_frame

    return events_frame(events)


def _metrics_figure(store: Any) -> Any:
    from synapse_steps.display.plots import metrics_figure

    return metrics_figure(store)


def _registry_text(steps: Sequence[Any]) -> str:
    from synapse_steps.display.tables import registry_text

    return registry_text(steps)


def _registry_html(steps: Sequence[Any]) -> str:
    from synapse_steps.display.tables import registry_html

    return registry_html(steps)


def _registry_frame(steps: Sequence[Any]) -> Any:
    from synapse_steps.display.tables import registry_frame

    return registry_frame(steps)


def _history_view(name: str) -> Any:
    def view(*args: Any) -> Any:
        from synapse_steps.display import history

        return getattr(history, name)(*args)

    return view


def install() -> None:
    """Fill every slot of ``WIRING`` with this package's own layers."""
    WIRING.front_ends = _front_ends
    WIRING.client = _client
    WIRING.journal = _journal
    WIRING.steps_frame = _steps_frame
    WIRING.metrics_frame = _metrics_frame
    WIRING.events_frame = _events_frame
    WIRING.metrics_figure = _metrics_figure
    WIRING.registry_text = _registry_text
    WIRING.registry_html = _registry_html
    WIRING.registry_frame = _registry_frame
    for name in (
        "history_text",
        "history_html",
        "history_frame",
        "history_figure",
        "unfinished_text",
        "unfinished_html",
    ):
        setattr(WIRING, name, _history_view(name))


install()
