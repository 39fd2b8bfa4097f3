"""Which process owns a temp folder, and whether that process is still running.

Temp folder names carry ``<pid>-<start>``: the owner's pid and its start time (clock ticks since
boot, from ``/proc/<pid>/stat``; 0 where there is no /proc). The start time guards against pid
reuse: a folder is abandoned when its pid is gone, a zombie, or now belongs to a process that
started at another time.
"""

from __future__ import annotations

import os
import sys

_cache: tuple[int, str] | None = None


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            text = stat.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    return text[text.rindex(")") + 2 :].split()


def start_time(pid: int) -> int:
    """The process's start time in clock ticks since boot, or 0 where it cannot be read."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else 0


def owner_tag() -> str:
    """``<pid>-<start>`` of this process (recomputed after a fork)."""
    global _cache
    pid = os.getpid()
    if _cache is None or _cache[0] != pid:
        _cache = (pid, f"{pid}-{start_time(pid)}")
    return _cache[1]


def is_alive(pid: int, start: int | None) -> bool | None:
    """True/False when known; None where liveness cannot be checked safely (Windows)."""
    if sys.platform == "win32":
        return None  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _stat_fields(pid)
    if fields is None:
        return True  # no /proc (macOS): the pid is all we can check
    if fields[0] in ("Z", "X"):
        return False  # a zombie writes nothing more
    return not start or start_time(pid) == start
