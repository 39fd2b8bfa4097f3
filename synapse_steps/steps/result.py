"""``StepResult``: what a step returns."""

from __future__ import annotations

import traceback as _traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class StepResult:
    """What a step returns: success or failure, its data, and what rollback needs."""

    success: bool = True
    data: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    rollback_data: dict[str, Any] = field(default_factory=dict)
    skipped: bool = False
    timestamp: datetime = field(default_factory=datetime.now)
    #: The exception that made the step fail, when it raised (set by the orchestrator).
    exception: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def traceback(self) -> str | None:
        """The formatted traceback of ``exception``, or ``None`` when the step did not raise."""
        if self.exception is None:
            return None
        return "".join(_traceback.format_exception(self.exception))
