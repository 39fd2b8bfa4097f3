"""Front ends for runs: console lines, notebook widgets, static HTML tables and plots.

Nothing heavy is imported here; each front end imports its own libraries when it is used:
``from synapse_steps.display import NotebookLogger`` imports ipywidgets at that moment.
"""

from typing import TYPE_CHECKING

from synapse_steps.display.auto import DisplayMode, choose_display, default_logger
from synapse_steps.display.console import ConsoleLogger

if TYPE_CHECKING:
    from synapse_steps.display.html import HtmlLogger
    from synapse_steps.display.notebook import NotebookLogger

_LAZY = {
    "NotebookLogger": "synapse_steps.display.notebook",
    "HtmlLogger": "synapse_steps.display.html",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'synapse_steps.display' has no attribute {name!r}")


__all__ = [
    "ConsoleLogger",
    "DisplayMode",
    "HtmlLogger",
    "NotebookLogger",
    "choose_display",
    "default_logger",
]
