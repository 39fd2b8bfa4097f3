"""Colours of the metric plots, and the WCAG 2.x contrast arithmetic that chose them.

No matplotlib here: a browser test can import the palette and check it against what a page
actually shows.

Why the ``auto`` theme draws a dark outline around its text: it has a transparent background, so
the same PNG sits on JupyterLab's light theme (white) and dark theme (``#111111`` /
``#1e1e1e``). Text needs 4.5:1 against its background, and no colour reaches that against both
white and ``#111111`` (the best grey, ``#797979``, gets 4.35:1 on each; see
``best_grey_on_both``). So ``auto`` text is a mid grey that passes 4.5:1 on white *and* on
black, drawn over a thin black outline: wherever it lands, the pixels around each glyph are the
outline's black (4.6:1) and, on a white page, the outlined glyph reads as dark text (4.5:1 fill,
21:1 outline). Lines and markers need 3:1 (WCAG non-text contrast), which mid-tones do reach
against white and both dark greys, so one set of line colours serves every theme.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Theme = Literal["light", "dark", "auto"]
THEMES: tuple[Theme, ...] = ("light", "dark", "auto")

WHITE = "#ffffff"
#: JupyterLab dark theme: ``--jp-layout-color0`` (page and cells), ``--jp-layout-color1``.
JUPYTERLAB_DARK = ("#111111", "#1e1e1e")

#: Minimum contrast ratios (WCAG 2.x: 1.4.3 text, 1.4.11 non-text).
TEXT_CONTRAST = 4.5
NON_TEXT_CONTRAST = 3.0

#: Line colours in panel order (train, validation, test, then others): Okabe-Ito-like hues
#: (told apart with colour-blindness) at mid luminance, >= 3:1 on white, #111111 and #1e1e1e.
LINE_COLOURS = ("#3b82f6", "#d55e00", "#009e73", "#a855f7", "#ef4444", "#7f7f7f")


@dataclass(frozen=True)
class Palette:
    """Colours of one theme. ``background`` None means transparent (the page shows through)."""

    background: str | None
    text: str  # titles, tick labels, axis labels, legend, value cards
    muted: str  # spines and tick marks (non-text: >= 3:1)
    grid: str  # decoration only: deliberately faint
    #: Outline drawn under text, or None. See the module docstring.
    halo: str | None
    lines: tuple[str, ...] = LINE_COLOURS
    #: Backgrounds this palette is meant to be read on (what the tests check it against).
    pages: tuple[str, ...] = (WHITE,)


PALETTES: dict[Theme, Palette] = {
    "light": Palette(background=WHITE, text="#262626", muted="#6b6b6b", grid="#e3e3e3", halo=None),
    "dark": Palette(
        background=JUPYTERLAB_DARK[0],
        text="#e0e0e0",
        muted="#a0a0a0",
        grid="#333333",
        halo=None,
        pages=JUPYTERLAB_DARK,
    ),
    "auto": Palette(
        background=None,
        text="#767676",
        muted="#808080",
        grid="#808080",
        halo="#000000",
        pages=(WHITE, *JUPYTERLAB_DARK),
    ),
}


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def relative_luminance(colour: str) -> float:
    """WCAG 2.x relative luminance of an ``#rrggbb`` colour (0 black, 1 white)."""
    text = colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"expected a colour like '#1e1e1e', got {colour!r}")
    r, g, b = (_channel(int(text[i : i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2.x contrast ratio of two ``#rrggbb`` colours, from 1.0 to 21.0."""
    high, low = sorted((relative_luminance(foreground), relative_luminance(background)))[::-1]
    return (high + 0.05) / (low + 0.05)


def best_grey_on_both(first: str, second: str) -> tuple[str, float]:
    """The grey whose worse contrast against ``first`` and ``second`` is highest, and that ratio."""
    greys = (f"#{v:02x}{v:02x}{v:02x}" for v in range(256))
    scored = ((min(contrast_ratio(g, first), contrast_ratio(g, second)), g) for g in greys)
    ratio, grey = max(scored)
    return grey, ratio
