"""What a logger is: the three methods every step can call.

Anything with these methods can be given to ``RuntimeContext(logger=...)``. Richer loggers may
also define the lifecycle hooks listed in ``synapse_steps.events.HOOK_NAMES``; they are optional.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Logger(Protocol):
    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None: ...

    def set_progress(self, current: int, total: int, category: str | None = None) -> None: ...

    def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None: ...
