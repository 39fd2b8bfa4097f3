"""Status colours that stay readable in light and dark notebook themes.

No colour reaches 4.5:1 against both white and JupyterLab's dark background (``#111111``), so
status text is styled by class, with one colour for light themes and one for dark ones, picked
by the theme markers JupyterLab (``body[data-jp-theme-light="false"]``) and VS Code
(``body.vscode-dark``) put on the page. Every pair reaches 4.5:1 on its background
(``tests/display/test_theme.py`` checks them). Where styles are stripped (GitHub), the text
keeps the page's own colour, which is readable by definition.

The same style block turns our ``auto`` metric figures over in dark themes (why: the
``palette`` module docstring). Two places hold such a figure:

- the live view's Image widget, whose element is the ``<img>``: it carries ``FIGURE_CLASS``,
  as does the ``<img>`` of a figure shown on its own (``recorder.plot_metrics()``: its HTML
  brings ``FIGURE_CSS``);
- the record's figure, a separate ``image/png`` output right after the record's HTML output,
  which no class of ours can reach: the record carries ``FIGURE_NEXT_CLASS`` and the rule
  selects the image of the next output child (``:has``, in Chromium, Safari and Firefox since
  2023). A viewer without ``:has`` or without JupyterLab's output classes shows the figure as
  drawn (see ``palette``).
"""

from __future__ import annotations

from synapse_steps.display.palette import DARK_FILTER

#: status -> (colour on light themes, colour on dark themes)
STATUS_COLOURS: dict[str, tuple[str, str]] = {
    "ok": ("#2e7d32", "#81c784"),
    "bad": ("#c62828", "#ef9a9a"),
    "warn": ("#a35200", "#ffb74d"),
    "busy": ("#1565c0", "#90caf9"),
    "muted": ("#616161", "#b0b0b0"),
}
#: What each step / run status is coloured as.
KINDS: dict[str, str] = {
    "pending": "muted",
    "not run": "muted",
    "skipped": "muted",
    "idle": "muted",
    "running": "busy",
    "done": "ok",
    "reused": "ok",
    "succeeded": "ok",
    "failed": "bad",
    "rollback failed": "bad",
    "interrupted": "warn",
    "rolling back": "warn",
    "rolled back": "warn",
    # How a run ended, as the run history lists it (synapse_steps.journal.runs).
    "kernel restart": "warn",
    "kernel shutdown": "warn",
    "kept": "warn",
    "unfinished": "bad",
    "journal error": "bad",
    "recovered": "muted",
    "abandoned": "muted",
}
DARK_SELECTORS = ('body[data-jp-theme-light="false"]', "body.vscode-dark")
#: On the live view's ``auto`` figure image; on a record followed by an ``auto`` figure.
FIGURE_CLASS = "synapse-steps-figure"
FIGURE_NEXT_CLASS = "synapse-steps-figure-next"
#: The record's figure: the image of the output child after the one holding the record.
RECORD_FIGURE = (
    f".jp-OutputArea-child:has(.{FIGURE_NEXT_CLASS}) + .jp-OutputArea-child .jp-RenderedImage img"
)


def css_class(status: str) -> str:
    """The class of a status's text (``sst-ok``, ``sst-bad`` ...)."""
    return f"sst-{KINDS.get(status, 'muted')}"


def _css() -> str:
    rules = []
    for name, (light, dark) in STATUS_COLOURS.items():
        rules.append(f".sst-{name}{{color:{light}}}")
        dark_rules = ",".join(f"{selector} .sst-{name}" for selector in DARK_SELECTORS)
        rules.append(f"{dark_rules}{{color:{dark}}}")
    rules.append(_filter_rule((f"img.{FIGURE_CLASS}", RECORD_FIGURE)))
    return "<style>" + "".join(rules) + "</style>"


def _filter_rule(targets: tuple[str, ...]) -> str:
    """``targets`` inverted under every dark-theme marker."""
    figures = ",".join(f"{selector} {target}" for selector in DARK_SELECTORS for target in targets)
    return f"{figures}{{filter:{DARK_FILTER}}}"


#: The style block, put once in a view (repeating it is harmless: the rules are the same).
CSS = _css()
#: Only the rule for ``img.FIGURE_CLASS``: what a figure shown on its own brings.
FIGURE_CSS = f"<style>{_filter_rule((f'img.{FIGURE_CLASS}',))}</style>"
