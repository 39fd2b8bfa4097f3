"""Colours of the metric plots, and the WCAG 2.x contrast arithmetic that chose them.

No matplotlib here: a browser test can import the palette and check it against what a page
actually shows.

Why the ``auto`` theme is drawn for light pages and inverted by CSS on dark ones: it has a
transparent background, so the same PNG sits on JupyterLab's light theme (white) and dark theme
(``#111111`` / ``#1e1e1e``). Text needs 4.5:1 against its background, and no colour reaches
that against both white and ``#111111`` (the best grey, ``#797979``, gets 4.35:1 on each; see
``best_grey_on_both``). An earlier ``auto`` drew mid grey in a thin black outline: on dark
pages the glyphs themselves stayed under 4.5:1 (4.2:1 measured in the browser). So ``auto`` is
drawn as a light-page figure (dark text, 15:1 on white) and the page's own style turns it over
in dark themes: ``theme.CSS`` gives our figure images ``filter: invert(1) hue-rotate(180deg)``
(``DARK_FILTER``) under JupyterLab's and VS Code's dark-theme markers. Inverting turns the dark
text light (``#262626`` -> ``#d9d9d9``, 11.8:1 on ``#1e1e1e``) and keeps transparent pixels
transparent; the half-turn of hue brings each line colour back to its own hue, only lighter, so
blue stays blue and every line keeps 3:1 on the dark pages (``dark_filtered`` computes what the
filter makes of a colour; the tests check each against what Chromium shows).

Where no page style reaches the image it shows as drawn, which is right on white pages (GitHub,
HTML exports in the default light theme; an export in nbconvert's dark theme carries
JupyterLab's markers and classes, so the style applies). A dark page our style cannot reach (a
viewer without ``:has`` or without JupyterLab's output classes, e.g. VS Code's record figure)
shows dark text on dark: pass ``theme="dark"`` there (``plots.configure``). No outline is drawn
to soften that: an outline is not the text, and measured as text it would hide a missing
filter from the browser test.
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
    lines: tuple[str, ...] = LINE_COLOURS
    #: Backgrounds this palette is meant to be read on as drawn (what the tests check).
    pages: tuple[str, ...] = (WHITE,)
    #: Backgrounds it is read on through ``DARK_FILTER`` (dark themes invert the figure).
    filtered_pages: tuple[str, ...] = ()

    @property
    def inverted_in_dark(self) -> bool:
        """Whether dark themes show this palette's figures through ``DARK_FILTER``."""
        return bool(self.filtered_pages)


PALETTES: dict[Theme, Palette] = {
    "light": Palette(background=WHITE, text="#262626", muted="#6b6b6b", grid="#e3e3e3"),
    "dark": Palette(
        background=JUPYTERLAB_DARK[0],
        text="#e0e0e0",
        muted="#a0a0a0",
        grid="#333333",
        pages=JUPYTERLAB_DARK,
    ),
    # The light palette on a transparent background (see the module docstring).
    "auto": Palette(
        background=None,
        text="#262626",
        muted="#6b6b6b",
        grid="#808080",  # drawn at alpha 0.35: faint on white and, inverted, on dark
        filtered_pages=JUPYTERLAB_DARK,
    ),
}

#: The CSS filter dark themes apply to ``auto`` figures (``theme.CSS`` holds the rules).
DARK_FILTER = "invert(1) hue-rotate(180deg)"
# hue-rotate(180deg) as the Filter Effects spec defines it (cos = -1, sin = 0): rows sum to 1,
# so greys are left as they are.
_HUE_ROTATE_180 = (
    (0.213 - 0.787, 0.715 + 0.715, 0.072 + 0.072),
    (0.213 + 0.213, 0.715 - 0.285, 0.072 + 0.072),
    (0.213 + 0.213, 0.715 + 0.715, 0.072 - 0.928),
)


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


def dark_filtered(colour: str) -> str:
    """What ``DARK_FILTER`` makes of an ``#rrggbb`` colour (sRGB, clamped, as browsers do)."""
    text = colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"expected a colour like '#1e1e1e', got {colour!r}")
    inverted = [1 - int(text[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    rotated = (sum(m * c for m, c in zip(row, inverted, strict=True)) for row in _HUE_ROTATE_180)
    return "#" + "".join(f"{round(255 * min(1.0, max(0.0, c))):02x}" for c in rotated)


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
