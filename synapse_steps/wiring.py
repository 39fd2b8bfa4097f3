"""The few things the core offers that live in the layers above it, as slots those layers fill.

The core (steps, runtime, store, run state, records) imports nothing above it. What it offers
that needs a higher layer (the front end ``RuntimeContext()`` picks, the default backend client,
the journal an ``Orchestrator`` writes, the DataFrames and figures of ``Recorder`` and
``StepRegistry``) goes through ``WIRING``, which ``synapse_steps.defaults`` fills when the
package is imported. A test or an embedding application may install its own. The journal's
run history shows itself through it too: the display draws the journal's types, so the
journal cannot import the display without a cycle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from synapse_steps.errors import MissingDependencyError


def _not_installed(what: str) -> Callable[..., Any]:
    def missing(*_args: Any, **_kwargs: Any) -> Any:
        raise MissingDependencyError(
            f"{what} is provided by synapse_steps.defaults, which was not imported; "
            "import synapse_steps (the package) first"
        )

    return missing


class Wiring:
    """Factories the core calls; each imports what it needs only when called."""

    def __init__(self) -> None:
        #: ``front_ends(display)``: the front ends of a ``RuntimeContext()`` given no logger.
        self.front_ends: Callable[[str | None], list[object]] = lambda display: []
        #: ``client()``: the backend client of a ``RuntimeContext()`` given none.
        self.client: Callable[[], Any] = _not_installed("the default backend client")
        #: ``journal(setting, workflow)``: the subscriber that journals an orchestrator's runs
        #: (``setting``: ``True`` for the default store's journal, or a path).
        self.journal: Callable[[Any, str], object] = _not_installed("the run journal")
        #: ``steps_frame(run_state)``, ``metrics_frame(metric_store)``,
        #: ``events_frame(events)``: the ``Recorder``'s DataFrames; ``metrics_figure(
        #: metric_store)`` its figure.
        self.steps_frame: Callable[[Any], Any] = _not_installed("Recorder.steps_frame()")
        self.metrics_frame: Callable[[Any], Any] = _not_installed("Recorder.metrics_frame()")
        self.events_frame: Callable[[Any], Any] = _not_installed("Recorder.events_frame()")
        self.metrics_figure: Callable[[Any], Any] = _not_installed("Recorder.plot_metrics()")
        #: ``registry_text(steps)``, ``registry_html(steps)``, ``registry_frame(steps)``: how
        #: a ``StepRegistry`` shows itself.
        self.registry_text: Callable[[Sequence[Any]], str] = lambda steps: repr(list(steps))
        self.registry_html: Callable[[Sequence[Any]], str] = _not_installed(
            "StepRegistry's HTML table"
        )
        self.registry_frame: Callable[[Sequence[Any]], Any] = _not_installed(
            "StepRegistry.to_frame()"
        )
        #: How the journal's run history (``journal.runs()``) and ``unfinished_runs()`` show
        #: themselves: text, HTML, a DataFrame, a figure across runs (``history_figure(
        #: series, metric)``).
        self.history_text: Callable[[Any], str] = repr
        self.history_html: Callable[[Any], str] = _not_installed("runs() as a table")
        self.history_frame: Callable[[Any], Any] = _not_installed("runs().frame()")
        self.history_figure: Callable[[Any, Any], Any] = _not_installed("runs().plot_metrics()")
        self.unfinished_text: Callable[[Any], str] = repr
        self.unfinished_html: Callable[[Any], str] = _not_installed("unfinished_runs() as a table")


WIRING = Wiring()
