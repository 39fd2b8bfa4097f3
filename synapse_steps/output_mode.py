"""Deterministic output: what synapse_steps prints and displays is the same on every run.

A notebook checked by ``pytest --nbval`` must produce the outputs it was saved with. Durations,
ETAs, dates, memory addresses and temporary paths change on every run, so in deterministic mode
the display layer shows placeholders instead. The mode is on when ``SYNAPSE_STEPS_DETERMINISTIC``
is true, and otherwise when ``CI`` is true (GitHub Actions and GitLab CI set ``CI=true``);
``SYNAPSE_STEPS_DETERMINISTIC=0`` turns it off even under CI. Both are read at every call, so a
notebook may switch the mode in its first cell.
"""

from __future__ import annotations

import os

ENV_VAR = "SYNAPSE_STEPS_DETERMINISTIC"
#: What a duration looks like in deterministic mode.
DURATION_PLACEHOLDER = "…s"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _flag(name: str) -> bool | None:
    """True/False for a recognised value of the variable ``name``; None when unset or empty."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    return None


def deterministic() -> bool:
    """Whether outputs must not depend on time, memory layout or temporary folders."""
    explicit = _flag(ENV_VAR)
    if explicit is not None:
        return explicit
    return _flag("CI") is True


def format_duration(seconds: float) -> str:
    """``0.42s``; the fixed placeholder ``…s`` in deterministic mode."""
    if deterministic():
        return DURATION_PLACEHOLDER
    return f"{seconds:.2f}s"


__all__ = ["DURATION_PLACEHOLDER", "ENV_VAR", "deterministic", "format_duration"]
