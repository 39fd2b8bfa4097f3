"""The one clock of a runtime: every duration, timestamp and display throttle reads it.

A run's records carry monotonic seconds (``now``), which are only meaningful as differences, and
the start of a run also carries wall-clock seconds (``wall``) so a record stream can be placed in
real time later (a journal, another process). Tests replace the clock of one runtime
(``RuntimeContext(clock=...)``) instead of patching ``time`` in every module.
"""

from __future__ import annotations

import time


class Clock:
    """Reads the system clocks; subclass it (or duck-type it) to control time in tests.

    ``now()``: monotonic seconds, for durations, ETAs and throttles. ``wall()``: seconds since
    the epoch, for timestamps a user reads. Both are the system functions themselves (a run
    reads the clock twice per step; a method around them would double what that costs).
    """

    now = staticmethod(time.perf_counter)
    wall = staticmethod(time.time)


SYSTEM_CLOCK = Clock()
