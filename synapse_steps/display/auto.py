"""Choosing a front end at call time (never at import), the way ``tqdm.auto`` does."""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Any, Literal

from synapse_steps.display import kernel
from synapse_steps.errors import ConfigurationError

DisplayMode = Literal["widgets", "compact", "text", "console", "off"]
ENV_VAR = "SYNAPSE_STEPS_DISPLAY"
_MODES = ("auto", "widgets", "compact", "text", "console", "off")


def ipywidgets_available() -> bool:
    return importlib.util.find_spec("ipywidgets") is not None


def choose_requested(display: str | None) -> str:
    """What the user asked for: the argument, else ``SYNAPSE_STEPS_DISPLAY``, else ``auto``."""
    return (display or os.environ.get(ENV_VAR) or "auto").strip().lower()


def choose_display(display: str | None = None) -> DisplayMode:
    """Resolve ``display`` (argument, then ``SYNAPSE_STEPS_DISPLAY``, then the environment)."""
    requested = choose_requested(display)
    if requested not in _MODES:
        source = "display argument" if display else f"{ENV_VAR} environment variable"
        raise ConfigurationError(
            f"unknown display mode {requested!r} from the {source}; use one of: {', '.join(_MODES)}"
        )
    if requested == "auto":
        if not kernel.in_notebook_kernel():
            return "console"
        return "widgets" if ipywidgets_available() else "text"
    if requested in ("widgets", "compact", "text") and not kernel.in_notebook_kernel():
        # Widgets and HTML need a notebook front end; in a terminal they would print markup.
        return "console"
    return requested  # type: ignore[return-value]


def default_logger(display: str | None = None) -> list[Any]:
    """The logger(s) of a ``RuntimeContext()`` created without an explicit logger."""
    mode = choose_display(display)
    if mode == "off":
        return []
    if mode in ("widgets", "compact"):
        try:
            from synapse_steps.display.notebook import NotebookLogger

            # compact: one line per run, for runs in loops and sweeps
            return [NotebookLogger(compact=mode == "compact")]
        except Exception as exc:
            warnings.warn(
                f"live widgets unavailable ({exc!r}); showing static tables instead",
                RuntimeWarning,
                stacklevel=2,
            )
            mode = "text"
    if mode == "text":
        from synapse_steps.display.html import HtmlLogger

        # The install hint only when widgets were wanted but are missing, not when chosen.
        chosen = choose_requested(display) == "text"
        return [HtmlLogger(hint=not chosen)]
    from synapse_steps.display.console import ConsoleLogger

    return [ConsoleLogger()]
