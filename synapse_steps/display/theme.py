"""Status colours that stay readable in light and dark notebook themes.

No colour reaches 4.5:1 against both white and JupyterLab's dark background (``#111111``), so
status text is styled by class, with one colour for light themes and one for dark ones, picked
by the theme markers JupyterLab (``body[data-jp-theme-light="false"]``) and VS Code
(``body.vscode-dark``) put on the page. Every pair reaches 4.5:1 on its background
(``tests/display/test_theme.py`` checks them). Where styles are stripped (GitHub), the text
keeps the page's own colour, which is readable by definition.
"""

from __future__ import annotations

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
}
DARK_SELECTORS = ('body[data-jp-theme-light="false"]', "body.vscode-dark")


def css_class(status: str) -> str:
    """The class of a status's text (``sst-ok``, ``sst-bad`` ...)."""
    return f"sst-{KINDS.get(status, 'muted')}"


def _css() -> str:
    rules = []
    for name, (light, dark) in STATUS_COLOURS.items():
        rules.append(f".sst-{name}{{color:{light}}}")
        dark_rules = ",".join(f"{selector} .sst-{name}" for selector in DARK_SELECTORS)
        rules.append(f"{dark_rules}{{color:{dark}}}")
    return "<style>" + "".join(rules) + "</style>"


#: The style block, put once in a view (repeating it is harmless: the rules are the same).
CSS = _css()
