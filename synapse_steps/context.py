"""RuntimeContext: the run's one store of records, its front ends, clock and backend client.

Steps never hold loggers themselves; they call ``context.log`` / ``set_progress`` /
``set_metrics``. The runtime hands each call to its ``Recorder`` first (the one store of the
run's records, always present), then to the plain loggers a user gave. Front ends (console,
notebook view, journal, a user's lifecycle logger) subscribe to the recorder and receive records
through hooks (``on_step_start`` ...; see ``synapse_steps.events``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from synapse_steps.clock import SYSTEM_CLOCK, Clock
from synapse_steps.errors import NestedRunError, UsageError
from synapse_steps.events import KNOWN_HOOKS, Record
from synapse_steps.logging_protocol import Logger
from synapse_steps.recorder import Recorder, check_hooks
from synapse_steps.wiring import WIRING

_UNSET: Any = object()


class RuntimeContext:
    """The runtime a workflow runs in.

    Args:
        logger: one logger or front end, several (a list), or ``None`` for the default front
            end: live widgets in a Jupyter kernel with ipywidgets, HTML tables in a kernel
            without them, console lines elsewhere. ``display`` or the ``SYNAPSE_STEPS_DISPLAY``
            environment variable (``widgets``, ``compact``, ``text``, ``console``, ``off``)
            overrides the
            choice. A plain logger (``log`` / ``set_progress`` / ``set_metrics``) receives every
            call; an object with hooks (``on_step_start`` ...) receives the run's records.
        client: the backend steps read datasets from and upload models to. Defaults to the
            embedded ``LocalBackend``, created on first use.
        env: environment values for the run (plain strings).
        job_id: identifier of the job this run belongs to, if any.
        display: front-end override used only when ``logger`` is ``None``.
        clock: the clock every time in this runtime is read from (tests pass their own).
    """

    def __init__(
        self,
        logger: Logger | object | Sequence[Logger | object] | None = None,
        client: Any = _UNSET,
        env: Mapping[str, str] | None = None,
        job_id: str | None = None,
        *,
        display: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if logger is None:
            given: tuple[object, ...] = tuple(WIRING.front_ends(display))
        elif isinstance(logger, Sequence) and not isinstance(logger, str):
            given = tuple(logger)
        else:
            given = (logger,)
        self.clock = clock
        # A Recorder passed as a logger (the first version's way to keep history) becomes the
        # store itself instead of a second copy of it.
        adopted = [lg for lg in given if isinstance(lg, Recorder)]
        self.recorder: Recorder = adopted[0] if adopted else Recorder(clock=clock)
        self.recorder.clock = clock  # one clock per runtime, an adopted store included
        if len(adopted) > 1:
            raise UsageError(
                f"{len(adopted)} Recorders were given as loggers; a runtime keeps one store. "
                "Pass one Recorder (or none: runtime.recorder is always there)"
            )
        self._loggers = tuple(lg for lg in given if not isinstance(lg, Recorder))
        plain: list[Any] = []
        for candidate in self._loggers:
            check_hooks(candidate)
            hooks = _hooks_of(candidate)
            if _is_plain_logger(candidate):
                plain.append(candidate)
            elif not hooks:
                raise UsageError(
                    f"logger {candidate!r} of type {type(candidate).__name__} has neither the "
                    "logger methods log(event, data=None, file=None), set_progress(current, "
                    "total, category=None), set_metrics(value, category=None) nor any hook "
                    f"({', '.join(sorted(KNOWN_HOOKS))})"
                )
            if hooks:
                self.recorder.subscribe(candidate, checked=True)
            attach = getattr(candidate, "attach", None)
            if callable(attach):
                # Front ends read the runtime's clock and store from here on.
                attach(self)
        self._plain = tuple(plain)
        self._client = client
        self.env: dict[str, str] = dict(env or {})
        self.job_id = job_id
        self._running = False
        # Lifecycle records go straight to the store: one call less per record, three per step.
        self.publish = self.recorder.publish  # type: ignore[method-assign]
        if not self._plain:
            # Nothing to forward to: the store's own methods are the whole job.
            self.log = self.recorder.log  # type: ignore[method-assign]
            self.set_progress = self.recorder.set_progress  # type: ignore[method-assign]
            self.set_metrics = self.recorder.set_metrics  # type: ignore[method-assign]

    # -- what steps report (the store first, then the user's plain loggers) -------------------

    def log(
        self, event: str, data: Mapping[str, Any] | None = None, file: str | None = None
    ) -> None:
        self.recorder.log(event, data, file)
        payload = dict(data or {})
        for logger in self._plain:
            logger.log(event, payload, file)

    def set_progress(self, current: float, total: float, category: str | None = None) -> None:
        self.recorder.set_progress(current, total, category)
        for logger in self._plain:
            logger.set_progress(current, total, category)

    def set_metrics(self, value: Mapping[str, Any], category: str | None = None) -> None:
        self.recorder.set_metrics(value, category)
        for logger in self._plain:
            logger.set_metrics(value, category)

    # -- what the orchestrator reports -------------------------------------------------------

    def publish(self, record: Record) -> None:
        """Hand a lifecycle record to the store (and through it to every front end)."""
        self.recorder.publish(record)

    @contextmanager
    def running(self) -> Iterator[None]:
        """Held by a run from start to end: a runtime runs one workflow at a time.

        A run started inside a step of another run on the same runtime (or from another thread
        meanwhile) would interleave two runs' records in one store; it is refused instead.
        """
        if self._running:
            raise NestedRunError(
                "this runtime is already running a workflow (an Orchestrator started inside a "
                "step, or from another thread, while another run is going on). Run the inner "
                "workflow's steps as part of the outer one, or give it its own context: "
                "MyContext(runtime_ctx=RuntimeContext())"
            )
        self._running = True
        try:
            yield
        finally:
            self._running = False

    @contextmanager
    def subscribed(self, subscriber: object | None) -> Iterator[None]:
        """``subscriber`` hears this runtime's records for the duration (``None``: nothing).

        How a run attaches its journal: it is given the runtime (``attach(runtime)``, if it has
        that method) and then receives records like any front end.
        """
        if subscriber is None:
            yield
            return
        attach = getattr(subscriber, "attach", None)
        if callable(attach):
            attach(self)
        self.recorder.subscribe(subscriber, checked=True)
        try:
            yield
        finally:
            self.recorder.unsubscribe(subscriber)
            detach = getattr(subscriber, "detach", None)
            if callable(detach):
                detach()

    @property
    def uses_default_client(self) -> bool:
        """True until a client is given or the default one is made (a remote run makes its own)."""
        return self._client is _UNSET

    # -- collaborators -------------------------------------------------------------------------

    @property
    def loggers(self) -> tuple[Any, ...]:
        """The loggers and front ends this runtime was given (or chose by default)."""
        return self._loggers

    @property
    def plain_loggers(self) -> tuple[Any, ...]:
        """The loggers that get the steps' calls as calls (``log`` / ``set_progress`` /
        ``set_metrics``), not as records: a remote run's calls are replayed to them."""
        return self._plain

    @property
    def logger(self) -> Any:
        """The first logger, for code written against a single-logger runtime."""
        return self._loggers[0] if self._loggers else None

    @property
    def client(self) -> Any:
        """The backend client; the embedded local backend unless another was given."""
        if self._client is _UNSET:
            self._client = WIRING.client()
        return self._client

    @client.setter
    def client(self, value: Any) -> None:
        self._client = value

    def __repr__(self) -> str:
        names = ", ".join(type(lg).__name__ for lg in self._loggers) or "no loggers"
        client = "default" if self._client is _UNSET else type(self._client).__name__
        return f"RuntimeContext(loggers=[{names}], client={client}, job_id={self.job_id!r})"


def _is_plain_logger(candidate: object) -> bool:
    return all(
        callable(getattr(candidate, method, None))
        for method in ("log", "set_progress", "set_metrics")
    )


def _hooks_of(candidate: object) -> list[str]:
    return [name for name in KNOWN_HOOKS if callable(getattr(candidate, name, None))]
