"""What the framework callbacks share: the import guard, metric values, batch progress.

Nothing here imports a framework.
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any, Protocol, TypeVar

from synapse_steps._warn import warn_user
from synapse_steps.errors import MissingDependencyError, UsageError


class StepReporter(Protocol):
    """What a callback reports to: a step's context (or a ``RuntimeContext``)."""

    def set_progress(self, current: float, total: float) -> None: ...

    def set_metrics(self, value: Mapping[str, Any]) -> None: ...

    def log(self, event: str, data: Mapping[str, Any] | None = None) -> None: ...


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise ``MissingDependencyError`` naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise missing(module, extra=extra, feature=feature, cause=exc) from exc


def missing(module: str, *, extra: str, feature: str, cause: ImportError) -> MissingDependencyError:
    """The error for a framework that could not be imported: what, why, and the extra."""
    top = module.partition(".")[0]
    return MissingDependencyError(
        f"{feature} needs {top}, which could not be imported ({cause}). Install the extra: "
        f"pip install 'synapse-steps[{extra}]'"
    )


def check_context(context: object, owner: str) -> None:
    """Refuse, at construction, a context that cannot take progress and metrics."""
    missing = [
        name
        for name in ("set_progress", "set_metrics", "log")
        if not callable(getattr(context, name, None))
    ]
    if missing:
        raise UsageError(
            f"{owner} needs the step's context (something with set_progress, set_metrics and "
            f"log, such as the context a step's execute() gets); got {type(context).__name__}, "
            f"which lacks {', '.join(missing)}"
        )


def check_every(every_n_batches: int | None, owner: str) -> int | None:
    if every_n_batches is None:
        return None
    if isinstance(every_n_batches, bool) or not isinstance(every_n_batches, int):
        raise UsageError(
            f"{owner}: every_n_batches must be a positive int or None, got {every_n_batches!r}"
        )
    if every_n_batches < 1:
        raise UsageError(
            f"{owner}: every_n_batches must be at least 1 (or None for per-epoch metrics only), "
            f"got {every_n_batches}"
        )
    return every_n_batches


def as_number(value: Any) -> float | None:
    """``value`` as a float (a Python or numpy number, a one-element tensor or array), else None.

    NaN and infinity come back as they are; text, ``None``, booleans and multi-element arrays
    give None. Never raises.
    """
    if isinstance(value, bool) or value is None or isinstance(value, str | bytes):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        item = getattr(value, "item", None)
        if callable(item):
            size = getattr(value, "size", None)
            count = size() if callable(size) else size  # torch: size(); numpy: size
            if count is not None and _elements(count) != 1:
                return None
            value = item()
            if isinstance(value, bool):
                return None
        return float(value)
    except Exception:  # a value that cannot be a number is left out, whatever it raises
        return None


def _elements(size: Any) -> int:
    if isinstance(size, int):
        return size
    return math.prod(int(n) for n in size)  # a torch.Size


def numeric(
    values: Mapping[str, Any], rename: Callable[[str], str | None] | None = None
) -> dict[str, float]:
    """The numeric entries of ``values`` as floats, keys passed through ``rename`` (None drops)."""
    found: dict[str, float] = {}
    for key, value in values.items():
        name = rename(str(key)) if rename is not None else str(key)
        if name is None:
            continue
        number = as_number(value)
        if number is not None:
            found[name] = number
    return found


class BatchProgress:
    """Progress in batches over the whole training: ``(epochs_done * per_epoch + batch)``.

    ``start_epoch`` is told how many epochs of this training are done and how many batches an
    epoch has (frameworks may change it: a smaller batch after running out of memory);
    ``batch_done(i)`` reports batch ``i`` (0-based) of the current epoch with one plain
    ``set_progress(current, total)``, the call the recorder keeps cheap.
    """

    __slots__ = ("_offset", "_report", "per_epoch", "total")

    def __init__(self, report: Callable[[float, float], None]) -> None:
        self._report = report
        self._offset = 0
        self.per_epoch = 0
        self.total = 0

    def start_epoch(self, epochs_done: int, per_epoch: int, epochs: int) -> None:
        self.per_epoch = max(int(per_epoch), 0)
        self._offset = max(epochs_done, 0) * self.per_epoch
        self.total = max(int(epochs), 0) * self.per_epoch
        if self.total:
            self._report(min(self._offset, self.total), self.total)

    def batch_done(self, index: int) -> None:
        total = self.total
        if total:
            current = self._offset + index + 1
            self._report(current if current < total else total, total)

    def finish(self) -> None:
        """The training ended (all epochs, or stopped early on purpose): the bar reaches 100 %."""
        if self.total:
            self._report(self.total, self.total)


F = TypeVar("F", bound=Callable[..., Any])


def guarded(method: F) -> F:
    """Run a callback method so that an error in it never stops the training.

    The first error is reported as a ``RuntimeWarning`` naming the callback; after it the
    object's callbacks do nothing (a half-working reporter would show wrong numbers). An
    interrupt (``KeyboardInterrupt``) is not an error: it goes through. The object keeps the
    state in ``reporting_failed``.
    """

    @functools.wraps(method)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        if self.reporting_failed:
            return None
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            self.reporting_failed = True
            warn_user(
                f"{type(self).__name__}.{method.__name__} raised {exc!r}; the training goes on "
                "without reporting progress or metrics to the step",
                RuntimeWarning,
            )
            return None

    return run  # type: ignore[return-value]
