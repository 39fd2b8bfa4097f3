"""Choosing a front end at call time (never at import), the way ``tqdm.auto`` does."""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from typing import Any, Literal

from synapse_steps.errors import ConfigurationError

DisplayMode = Literal["widgets", "text", "console", "off"]
ENV_VAR = "SYNAPSE_STEPS_DISPLAY"
_MODES = ("auto", "widgets", "text", "console", "off")


def in_notebook_kernel() -> bool:
    """True inside a Jupyter kernel (JupyterLab, Notebook 7, VS Code, nbclient)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        return False
    return shell is not None and hasattr(shell, "kernel")


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
        if not in_notebook_kernel():
            return "console"
        return "widgets" if ipywidgets_available() else "text"
    if requested in ("widgets", "text") and not in_notebook_kernel():
        # Widgets and HTML need a notebook front end; in a terminal they would print markup.
        return "console"
    return requested  # type: ignore[return-value]


def default_logger(display: str | None = None) -> list[Any]:
    """The logger(s) of a ``RuntimeContext()`` created without an explicit logger."""
    mode = choose_display(display)
    if mode == "off":
        return []
    if mode == "widgets":
        try:
            from synapse_steps.display.notebook import NotebookLogger

            return [NotebookLogger()]
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
