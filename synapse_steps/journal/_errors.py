"""The journal's error class: ``synapse_steps.errors.JournalError`` (the package's one tree)."""

from __future__ import annotations

from synapse_steps.errors import JournalError

__all__ = ["JournalError"]
