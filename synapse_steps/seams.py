"""The one place where the core reaches up into the layers built on it.

The core (steps, events, run state, runtime) never imports display, backends, datasets or
actions at module level, and nothing else in it imports them at all: the few things the core
offers that need them (choosing the default front end, rich reprs of a registry, a metrics
figure, the default backend client) go through the functions below, which import lazily. A test
(``tests/test_layers.py``) checks the import graph for cycles outside this module.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from synapse_steps.client import BackendClient
    from synapse_steps.journal.writer import JournalWriter
    from synapse_steps.metrics import MetricStore


def default_front_ends(display: str | None) -> list[Any]:
    """The front end(s) of a ``RuntimeContext()`` created without a logger."""
    from synapse_steps.display.auto import default_logger

    return default_logger(display)


def default_client() -> BackendClient:
    """The embedded local store (opens nothing until it is used)."""
    from synapse_steps.backends.local import LocalBackend

    return LocalBackend()


def registry_text(steps: Sequence[Any]) -> str:
    from synapse_steps.display.tables import registry_text as text

    return text(steps)


def registry_html(steps: Sequence[Any]) -> str:
    from synapse_steps.display.tables import registry_html as html

    return html(steps)


def registry_frame(steps: Sequence[Any]) -> Any:
    from synapse_steps.display.tables import registry_frame as frame

    return frame(steps)


def metrics_figure(store: MetricStore) -> Figure:
    from synapse_steps.display.plots import metrics_figure as figure

    return figure(store)


def journal_writer(path: str | os.PathLike[str] | None, workflow: str) -> JournalWriter:
    """The writer that journals an orchestrator's runs (opens nothing until a run starts)."""
    from synapse_steps.journal.writer import JournalWriter

    return JournalWriter(path, workflow)
