"""Contrast of a metrics figure as the screen shows it: pixels of a screenshot, not the PNG.

The browser test screenshots the rendered ``<img>`` (so page background, transparency and any
CSS filter are all applied, which a canvas ``drawImage`` of the PNG would not show) and this
module measures it:

- the page background is the screenshot's most common colour (the figure is transparent and
  mostly empty);
- text is read where only text is drawn: outside each panel's axes box, widened by the tick
  marks' length (titles, tick labels, axis labels); neutral pixels only, so a legend's line
  handles are not counted as text;
- lines are read inside the axes box: the saturated pixels (the line colours are hues; grid,
  spines and text are greys).

A pixel is "ink" if it differs from the background by at least ``INK`` (WCAG ratio): the faint
anti-aliasing fringe is left out. Anti-aliasing mixes a glyph's edge with the page, so the
colour the reader sees as "the text" is the one its fully covered pixels reach: the ratio
reported as ``text`` is a high percentile (``PERCENTILE``) of the ink pixels' ratios, which a
few stray pixels cannot lift (the median is reported too).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from synapse_steps.display.plots import DPI, LEGEND_ROW, MARGINS, PANEL_SIZE

INK = 1.5
PERCENTILE = 90
#: Tick marks reach this far (px) outside the axes box; tick labels start beyond them.
TICK_REACH = 7
#: Fewest text / line pixels a real figure has (a few tick labels, one line).
MIN_TEXT_PIXELS = 300
MIN_LINE_PIXELS = 200
#: Extra screenshot pixels allowed per axis (see ``text_mask``).
SLACK = 2
PANEL = (round(PANEL_SIZE[0] * DPI), round(PANEL_SIZE[1] * DPI))


@dataclass(frozen=True)
class FigureContrast:
    background: tuple[int, int, int]
    text: float  # PERCENTILE of the text pixels' ratios to the background
    text_median: float
    text_pixels: int
    lines: float  # PERCENTILE of the line pixels' ratios
    line_pixels: int

    def summary(self) -> str:
        return (
            f"background rgb{self.background}: text {self.text:.2f}:1 "
            f"(median {self.text_median:.2f}, {self.text_pixels} px), "
            f"lines {self.lines:.2f}:1 ({self.line_pixels} px)"
        )


def _luminance(rgb: np.ndarray) -> np.ndarray:
    c = rgb / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    result: np.ndarray = linear @ np.array([0.2126, 0.7152, 0.0722])
    return result


def _ratios(rgb: np.ndarray, background: np.ndarray) -> np.ndarray:
    lum = _luminance(rgb)
    bg = float(_luminance(background.astype(np.float64)))
    high, low = np.maximum(lum, bg), np.minimum(lum, bg)
    result: np.ndarray = (high + 0.05) / (low + 0.05)
    return result


def text_mask(width: int, height: int, legend_rows: int = 0) -> np.ndarray:
    """True where a figure of panels draws only text (titles, tick and axis labels, and the
    legend's labels in the ``legend_rows`` rows above each panel's axes).

    A screenshot may hold one more row or column than the figure (an element at a fractional
    position): up to ``SLACK`` px are allowed, and ``TICK_REACH`` covers such a shift. Raises
    ``ValueError`` if the size is not a grid of ``PANEL`` panels: the regions would be guesses.
    """
    legend = legend_rows * LEGEND_ROW / 72 * DPI
    panel_height = PANEL[1] + legend
    columns, rows = width // PANEL[0], int(height // panel_height)
    extra = (width - columns * PANEL[0], height - rows * panel_height)
    if not columns or not rows or max(extra) > SLACK:
        raise ValueError(f"figure of {width}x{height} px is not a grid of {PANEL} panels")
    mask = np.ones((height, width), dtype=bool)
    left, right = round(MARGINS["left"] * DPI), round(MARGINS["right"] * DPI)
    top, bottom = round(MARGINS["top"] * DPI + legend), round(MARGINS["bottom"] * DPI)
    for row in range(rows):
        y0 = round(row * panel_height)
        for x0 in range(0, columns * PANEL[0], PANEL[0]):
            mask[
                y0 + top - TICK_REACH : y0 + round(panel_height) - bottom + TICK_REACH,
                x0 + left - TICK_REACH : x0 + PANEL[0] - right + TICK_REACH,
            ] = False
    return mask


def measure(png: bytes, legend_rows: int = 0) -> FigureContrast:
    """Text and line contrast of a screenshot of a figure shown at 1 CSS px per figure px
    (``legend_rows``: rows of legend above each panel's axes)."""
    rgb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int64)
    height, width = rgb.shape[:2]
    flat = rgb.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[np.argmax(counts)]
    ratios = _ratios(rgb.astype(np.float64), background)
    spread = rgb.max(axis=2) - rgb.min(axis=2)
    ink = ratios >= INK
    outside = text_mask(width, height, legend_rows)
    text = ratios[ink & outside & (spread < 40)]
    lines = ratios[ink & ~outside & (spread > 60)]
    return FigureContrast(
        background=(int(background[0]), int(background[1]), int(background[2])),
        text=float(np.percentile(text, PERCENTILE)) if text.size else 1.0,
        text_median=float(np.median(text)) if text.size else 1.0,
        text_pixels=int(text.size),
        lines=float(np.percentile(lines, PERCENTILE)) if lines.size else 1.0,
        line_pixels=int(lines.size),
    )
