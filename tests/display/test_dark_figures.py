"""Dark themes invert our ``auto`` metric figures: the live view's Image widget and the record's
figure are marked for the style, and only ``auto`` figures are (``light``/``dark`` paint their own
background). What the page then shows is measured in the browser test."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from typing import Any

import pytest
from display_helpers import Clock, Step, run

from synapse_steps.display import plots
from synapse_steps.display.notebook import NotebookLogger
from synapse_steps.display.palette import DARK_FILTER
from synapse_steps.display.plots import CategoryPlot
from synapse_steps.display.theme import (
    CSS,
    DARK_SELECTORS,
    FIGURE_CLASS,
    FIGURE_CSS,
    FIGURE_NEXT_CLASS,
    RECORD_FIGURE,
)
from synapse_steps.metrics import MetricStore


@pytest.fixture(autouse=True)
def default_options() -> Iterator[None]:
    plots.configure()
    yield
    plots.configure()


def _rules(css: str) -> dict[str, str]:
    """``selector -> declarations`` of a style block, one entry per selector of a group."""
    rules: dict[str, str] = {}
    for selectors, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css.removeprefix("<style>")):
        for selector in selectors.split(","):
            rules[selector.strip()] = body
    return rules


def test_the_style_inverts_our_figures_in_dark_themes_only() -> None:
    rules = _rules(CSS)
    for dark in DARK_SELECTORS:
        assert rules[f"{dark} img.{FIGURE_CLASS}"] == f"filter:{DARK_FILTER}"
        assert rules[f"{dark} {RECORD_FIGURE}"] == f"filter:{DARK_FILTER}"
    filtered = [selector for selector, body in rules.items() if "filter" in body]
    assert len(filtered) == 2 * len(DARK_SELECTORS)
    assert all(selector.startswith(DARK_SELECTORS) for selector in filtered), filtered
    # The record's figure: the image of the output right after the record's.
    assert (
        f".jp-OutputArea-child:has(.{FIGURE_NEXT_CLASS}) + .jp-OutputArea-child "
        ".jp-RenderedImage img"
    ) == RECORD_FIGURE


def _run_with_metrics(clock: Clock) -> NotebookLogger:
    logger = NotebookLogger()
    _, error = run(clock.runtime(logger), Step("fit", 1.0, clock=clock, metrics=True, ticks=3))
    assert error is None
    return logger


def _record_classes(shown: list[Any]) -> list[str]:
    records = [obj["text/html"] for obj in shown if isinstance(obj, dict) and "text/html" in obj]
    assert len(records) == 1, shown
    match = re.search(r'<div class="([^"]*synapse-steps-run[^"]*)"', records[0])
    assert match is not None, records[0]
    return match.group(1).split()


def test_an_auto_figure_is_marked_in_the_view_and_the_record(
    clock: Clock, shown: list[Any]
) -> None:
    logger = _run_with_metrics(clock)
    assert logger.view is not None
    (image,) = [image for _, image in logger.view._plots.values()]
    assert FIGURE_CLASS in image._dom_classes
    assert _record_classes(shown) == ["synapse-steps-run", FIGURE_NEXT_CLASS]
    # The figure is the very next output: the style's "+" finds it there.
    kinds = [sorted(obj) if isinstance(obj, dict) else type(obj).__name__ for obj in shown]
    assert kinds[-2:] == [["text/html", "text/plain"], ["image/png", "text/plain"]]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_figures_with_their_own_background_are_never_marked(
    clock: Clock, shown: list[Any], theme: str
) -> None:
    plots.configure(theme=theme)  # type: ignore[arg-type]
    logger = _run_with_metrics(clock)
    assert logger.view is not None
    (image,) = [image for _, image in logger.view._plots.values()]
    assert FIGURE_CLASS not in image._dom_classes
    assert _record_classes(shown) == ["synapse-steps-run"]


def test_a_run_without_metrics_marks_nothing(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    _, error = run(clock.runtime(logger), Step("only", 1.0, clock=clock))
    assert error is None
    assert _record_classes(shown) == ["synapse-steps-run"]
    assert not any(isinstance(obj, dict) and "image/png" in obj for obj in shown)


def test_a_plots_palette_follows_configure_between_renders() -> None:
    """The view marks its image after each render's palette (``plot.palette``)."""
    store = MetricStore()
    for step in range(3):
        store.add({"loss": 1.0 / (step + 1), "step": step}, "fit")
    plot = CategoryPlot(store, "fit")
    plot.render()
    assert plot.palette.inverted_in_dark
    plots.configure(theme="dark")
    plot.render()
    assert not plot.palette.inverted_in_dark


def _static_store() -> MetricStore:
    store = MetricStore()
    for step in range(5):
        store.add({"loss": 1 / (step + 1), "step": step}, "fit")
    return store


def test_a_figure_shown_on_its_own_brings_the_style_that_inverts_it() -> None:
    """``recorder.plot_metrics()``: no record precedes it, so its HTML carries the rule."""
    figure = plots.metrics_figure(_static_store())
    data, metadata = figure._repr_mimebundle_()
    assert metadata == {"image/png": {"width": 400, "height": 260}}
    png = base64.b64decode(data["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    html = data["text/html"]
    assert html.startswith(FIGURE_CSS)
    assert _rules(FIGURE_CSS) == {
        f"{dark} img.{FIGURE_CLASS}": f"filter:{DARK_FILTER}" for dark in DARK_SELECTORS
    }
    tag = r'<img class="([^"]+)" alt="[^"]+" width="400" height="260" src="([^"]+)">'
    img = re.fullmatch(tag, html.removeprefix(FIGURE_CSS))
    assert img is not None, html
    assert img.group(1) == FIGURE_CLASS
    assert img.group(2) == f"data:image/png;base64,{data['image/png']}"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_figure_with_its_own_background_offers_only_the_png(theme: str) -> None:
    figure = plots.metrics_figure(_static_store(), theme=theme)  # type: ignore[arg-type]
    data, _ = figure._repr_mimebundle_()
    assert sorted(data) == ["image/png"]
