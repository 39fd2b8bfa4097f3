"""RuntimeContext: where a run's events go (loggers) and what it talks to (client).

Steps never hold loggers themselves; they call ``context.log`` / ``set_progress`` /
``set_metrics`` and the runtime fans each call out to every logger. The orchestrator's lifecycle
records travel through ``emit`` to loggers that define the matching hook.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from synapse_steps.events import HOOK_NAMES, RunEvent
from synapse_steps.logging_protocol import Logger

_UNSET: Any = object()

ProgressSink = Callable[[int, int, "str | None"], None]
MetricsSink = Callable[[dict[str, Any], "str | None"], None]
LogSink = Callable[[str, dict[str, Any], "str | None"], None]


class RuntimeContext:
    """The runtime a workflow runs in.

    Args:
        logger: one logger, several (a list), or ``None`` for the default front end: live widgets
            in a Jupyter kernel with ipywidgets, HTML tables in a kernel without them, console
            lines elsewhere. ``display`` or the ``SYNAPSE_STEPS_DISPLAY`` environment variable
            (``widgets``, ``text``, ``console``, ``off``) overrides the choice.
        client: the backend steps read datasets from and upload models to. Defaults to the
            embedded ``LocalBackend``, created on first use.
        env: environment values for the run (plain strings).
        job_id: identifier of the job this run belongs to, if any.
        display: front-end override used only when ``logger`` is ``None``.
    """

    def __init__(
        self,
        logger: Logger | Sequence[Logger] | None = None,
        client: Any = _UNSET,
        env: Mapping[str, str] | None = None,
        job_id: str | None = None,
        *,
        display: str | None = None,
    ) -> None:
        if logger is None:
            from synapse_steps.display.auto import default_logger

            loggers: tuple[Logger, ...] = tuple(default_logger(display))
        elif isinstance(logger, Sequence) and not isinstance(logger, str):
            loggers = tuple(logger)
        else:
            loggers = (logger,)
        for candidate in loggers:
            _check_logger(candidate)
        self._loggers = loggers
        self._client = client
        self.env: dict[str, str] = dict(env or {})
        self.job_id = job_id
        # Bound methods resolved once: these are called on every progress tick of every step.
        self._log_sinks: tuple[LogSink, ...] = tuple(lg.log for lg in loggers)
        self._progress_sinks: tuple[ProgressSink, ...] = tuple(lg.set_progress for lg in loggers)
        self._metrics_sinks: tuple[MetricsSink, ...] = tuple(lg.set_metrics for lg in loggers)
        if len(loggers) == 1:
            # The common case: call the one logger directly, without the fan-out loop. This
            # keeps set_progress within a tqdm update's cost in a training loop.
            (only,) = loggers
            self.log = only.log  # type: ignore[method-assign]
            self.set_progress = only.set_progress  # type: ignore[method-assign]
            self.set_metrics = only.set_metrics  # type: ignore[method-assign]
        self._hooks: dict[type[Any], tuple[Callable[[Any], None], ...]] = {
            record_type: tuple(
                getattr(lg, hook) for lg in loggers if callable(getattr(lg, hook, None))
            )
            for record_type, hook in HOOK_NAMES.items()
        }

    # -- what steps report -------------------------------------------------------------------

    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
        for sink in self._log_sinks:
            sink(event, data, file)

    def set_progress(self, current: int, total: int, category: str | None = None) -> None:
        for sink in self._progress_sinks:
            sink(current, total, category)

    def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
        for sink in self._metrics_sinks:
            sink(value, category)

    # -- what the orchestrator reports -----------------------------------------------------

    def wants(self, record_type: type[Any]) -> bool:
        """Whether any logger listens to this lifecycle record (so it is worth building)."""
        return bool(self._hooks[record_type])

    def emit(self, record: RunEvent) -> None:
        """Deliver a lifecycle record to every logger with the matching hook.

        A display must never break a training run: a hook that raises is reported once as a
        warning and then left out, while ``KeyboardInterrupt`` still goes through.
        """
        hooks = self._hooks[type(record)]
        for hook in hooks:
            try:
                hook(record)
            except Exception as exc:
                self._drop_hook_owner(hook, exc)

    def _drop_hook_owner(self, hook: Callable[[Any], None], exc: Exception) -> None:
        owner = getattr(hook, "__self__", hook)
        warnings.warn(
            f"logger {type(owner).__name__} raised in {getattr(hook, '__name__', 'a hook')}: "
            f"{exc!r}; its lifecycle hooks are disabled for this runtime",
            RuntimeWarning,
            stacklevel=3,
        )
        self._hooks = {
            record_type: tuple(h for h in hooks if getattr(h, "__self__", h) is not owner)
            for record_type, hooks in self._hooks.items()
        }

    # -- collaborators -------------------------------------------------------------------------

    @property
    def loggers(self) -> tuple[Logger, ...]:
        return self._loggers

    @property
    def logger(self) -> Logger | None:
        """The first logger, for code written against a single-logger runtime."""
        return self._loggers[0] if self._loggers else None

    @property
    def recorder(self) -> Any:
        """The in-memory ``Recorder`` of this runtime's history, or ``None``.

        Display loggers keep one each; a ``Recorder`` given as a logger is found as well.
        """
        from synapse_steps.recorder import Recorder

        for lg in self._loggers:
            if isinstance(lg, Recorder):
                return lg
            found = getattr(lg, "recorder", None)
            if isinstance(found, Recorder):
                return found
        return None

    @property
    def client(self) -> Any:
        """The backend client; the embedded local backend unless another was given."""
        if self._client is _UNSET:
            from synapse_steps.backends.local import LocalBackend

            self._client = LocalBackend()
        return self._client

    @client.setter
    def client(self, value: Any) -> None:
        self._client = value

    def __repr__(self) -> str:
        names = ", ".join(type(lg).__name__ for lg in self._loggers) or "no loggers"
        client = "default" if self._client is _UNSET else type(self._client).__name__
        return f"RuntimeContext(loggers=[{names}], client={client}, job_id={self.job_id!r})"


def _check_logger(candidate: object) -> None:
    missing = [
        m
        for m in ("log", "set_progress", "set_metrics")
        if not callable(getattr(candidate, m, None))
    ]
    if missing:
        raise TypeError(
            f"logger {candidate!r} of type {type(candidate).__name__} lacks "
            f"{', '.join(missing)}(); a logger needs log(event, data, file=None), "
            "set_progress(current, total, category=None) and set_metrics(value, category=None)"
        )
