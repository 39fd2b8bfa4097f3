"""The browser test's figure measurement (``figure_pixels``), checked on composites made here.

No browser: the figure's PNG is laid over a page colour the way a browser shows a transparent
image, with ``palette.dark_filtered`` standing in for the CSS filter. The measurement must catch
the defect the browser test is about (mid-grey text on JupyterLab dark: under 4.5:1) and pass
what the page shows with the fix.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from figure_pixels import MIN_LINE_PIXELS, MIN_TEXT_PIXELS, measure, text_mask
from matplotlib import patheffects
from matplotlib.text import Text
from PIL import Image

from synapse_steps.display import plots
from synapse_steps.display.palette import JUPYTERLAB_DARK, PALETTES, WHITE, Palette, dark_filtered
from synapse_steps.metrics import MetricStore

#: The ``auto`` palette before dark themes inverted it: mid grey (outlined in black: ``_outlined``).
OUTLINED_GREY = Palette(
    background=None,
    text="#767676",
    muted="#808080",
    grid="#808080",
    pages=(WHITE, *JUPYTERLAB_DARK),
)


@pytest.fixture(autouse=True)
def default_options() -> Iterator[None]:
    plots.configure()
    yield
    plots.configure()


def _outlined(text: Text, palette: Palette) -> Text:
    """Text as the outlined-grey palette drew it: its colour over a 1 pt black stroke."""
    text.set_color(palette.text)
    text.set_path_effects([patheffects.withStroke(linewidth=1.0, foreground="#000000")])
    return text


def _store() -> MetricStore:
    store = MetricStore()
    for epoch in range(30):
        loss = 2.0 * math.exp(-epoch / 8)
        store.add({"loss": loss, "accuracy": 1 - 0.9 * math.exp(-epoch / 6), "epoch": epoch}, "t")
    return store


def _filtered(rgba: np.ndarray) -> np.ndarray:
    """``DARK_FILTER`` applied to every pixel's colour (alpha kept, as CSS filters do)."""
    flat = rgba.reshape(-1, 4).copy()
    colours, index = np.unique(flat[:, :3], axis=0, return_inverse=True)
    mapped = np.array(
        [
            [int(dark_filtered(f"#{r:02x}{g:02x}{b:02x}")[i : i + 2], 16) for i in (1, 3, 5)]
            for r, g, b in colours
        ],
        dtype=np.uint8,
    )
    flat[:, :3] = mapped[index.reshape(-1)]
    return flat.reshape(rgba.shape)


def _on_page(png: bytes, page: str, effect: Callable[[np.ndarray], np.ndarray] | None) -> bytes:
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))
    if effect is not None:
        rgba = effect(rgba)
    shown = Image.new("RGBA", (rgba.shape[1], rgba.shape[0]), page)
    shown.alpha_composite(Image.fromarray(rgba, "RGBA"))
    buffer = io.BytesIO()
    shown.convert("RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _live_png() -> bytes:
    return plots.CategoryPlot(_store(), "t").render()


def test_the_outlined_grey_reads_under_4_5_on_jupyterlab_dark(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The defect, as the measurement sees it (tick labels keep their own grey here)."""
    monkeypatch.setitem(plots.PALETTES, "auto", OUTLINED_GREY)
    monkeypatch.setattr(plots, "_text", _outlined)
    for page in JUPYTERLAB_DARK:
        found = measure(_on_page(_live_png(), page, None))
        assert found.text_pixels >= MIN_TEXT_PIXELS, found
        assert found.text < 4.5, (page, found)


@pytest.mark.parametrize("page", JUPYTERLAB_DARK)
def test_auto_needs_the_filter_on_dark_pages(page: str) -> None:
    """Dark text on a dark page, as a viewer without our style shows it: the filter is needed."""
    found = measure(_on_page(_live_png(), page, None))
    assert found.text < 4.5, found


@pytest.mark.parametrize(
    ("page", "effect"),
    [(WHITE, None), *((page, _filtered) for page in JUPYTERLAB_DARK)],
    ids=["white", *(f"filtered-on-{page}" for page in JUPYTERLAB_DARK)],
)
def test_auto_text_and_lines_reach_wcag_as_shown(
    page: str, effect: Callable[[np.ndarray], np.ndarray] | None
) -> None:
    live = _live_png()
    record = plots.figure_png(plots.metrics_figure(_store()))
    for png in (live, record):
        found = measure(_on_page(png, page, effect))
        assert found.text_pixels >= MIN_TEXT_PIXELS, found
        assert found.line_pixels >= MIN_LINE_PIXELS, found
        assert found.text >= 4.5, found
        assert found.lines >= 3.0, found
        assert found.background == tuple(int(page[i : i + 2], 16) for i in (1, 3, 5))


def test_the_explicit_themes_are_never_filtered() -> None:
    assert [PALETTES[t].inverted_in_dark for t in ("light", "dark", "auto")] == [
        False,
        False,
        True,
    ]


def test_text_regions_need_a_grid_of_panels() -> None:
    mask = text_mask(801, 261)  # one extra row and column: an element at a fractional offset
    assert mask.shape == (261, 801)
    assert mask[0, 0]  # the title's corner
    assert mask[250, 10]  # below the axes
    assert not mask[130, 200]  # inside the first panel's axes
    with pytest.raises(ValueError, match="805x260"):
        text_mask(805, 260)
    with pytest.raises(ValueError, match="not a grid"):
        text_mask(300, 260)
