"""``FrontEnd``: the common base of the display front ends.

A front end draws a run; it keeps nothing of its own. When given to a ``RuntimeContext`` it is
attached to that runtime's store (``recorder``) and clock, and receives the run's records
through the hooks it defines (see ``synapse_steps.logging_protocol.Subscriber``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from synapse_steps.clock import SYSTEM_CLOCK, Clock
from synapse_steps.output_mode import deterministic, format_duration
from synapse_steps.recorder import Recorder
from synapse_steps.run_state import RunState

if TYPE_CHECKING:
    from synapse_steps.context import RuntimeContext


class FrontEnd:
    def __init__(self) -> None:
        # Until it is attached, a front end reads an empty store of its own.
        self.recorder = Recorder()
        self.clock: Clock = SYSTEM_CLOCK
        self._recorders: list[Recorder] = []
        self._active: Recorder | None = None

    def attach(self, runtime: RuntimeContext) -> None:
        """Read the runtime's store and clock from now on (called by ``RuntimeContext``).

        One front end may serve several runtimes (a logger reused for each run): it draws the
        run that is going on, else the last runtime's.
        """
        self.recorder = runtime.recorder
        self.clock = runtime.clock
        self._recorders = [r for r in self._recorders if r is not runtime.recorder]
        self._recorders.append(runtime.recorder)

    @property
    def run(self) -> RunState:
        """The run being drawn: the one going on in any attached store, else the last one."""
        if len(self._recorders) > 1:
            for recorder in reversed(self._recorders):
                if recorder.run.phase in ("running", "rolling back"):
                    self._active = recorder
                    return recorder.run
            if self._active is not None:  # the run that ended last
                return self._active.run
        return self.recorder.run


def format_seconds(seconds: float | None) -> str:
    """``0.42s``, ``12s``, ``3:05``, ``1:02:03``; an em dash when unknown."""
    if seconds is None:
        return "—"
    if deterministic():  # nbval in CI compares outputs: no times there
        return format_duration(seconds)
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}:{secs:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def with_rollback(ran: str, undo: str) -> str:
    """A step's own time and its rollback's, kept apart so neither hides the other:
    ``1.02s + 0.46s rollback`` (``0.46s rollback`` for a step that never ran, ``1.02s`` alone
    when nothing was rolled back)."""
    if not undo:
        return ran
    return f"{ran} + {undo} rollback" if ran else f"{undo} rollback"
