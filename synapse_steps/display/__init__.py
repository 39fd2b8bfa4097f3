"""Front ends for runs: console lines, notebook widgets, static HTML tables and plots.

Nothing heavy is imported here; each front end imports its own libraries when it is used.
"""

from synapse_steps.display.auto import DisplayMode, choose_display, default_logger
from synapse_steps.display.console import ConsoleLogger

__all__ = ["ConsoleLogger", "DisplayMode", "choose_display", "default_logger"]
