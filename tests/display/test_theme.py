"""Status colours are readable in light and dark notebook themes (WCAG 2.x, 4.5:1 for text)."""

from __future__ import annotations

import re

import pytest

from synapse_steps.display.theme import CSS, KINDS, STATUS_COLOURS, css_class


def luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


LIGHT_PAGES = ("#ffffff", "#f5f5f5")  # JupyterLab light: page, and a selected cell
DARK_PAGES = ("#111111", "#1e1e1e")  # JupyterLab dark: --jp-layout-color0 / 1


@pytest.mark.parametrize("name", sorted(STATUS_COLOURS))
def test_each_status_colour_reaches_4_5_on_its_theme(name: str) -> None:
    light, dark = STATUS_COLOURS[name]
    assert min(contrast(light, page) for page in LIGHT_PAGES) >= 4.5
    assert min(contrast(dark, page) for page in DARK_PAGES) >= 4.5


def test_the_old_single_colours_failed_on_dark() -> None:
    # What the first version used for "done" and "rolled back": the reason for two colours.
    assert contrast("#2e7d32", "#111111") < 4.5
    assert contrast("#ef6c00", "#ffffff") < 4.5


def test_every_status_has_a_class_and_the_style_covers_both_themes() -> None:
    for status in KINDS:
        assert re.fullmatch(r"sst-(ok|bad|warn|busy|muted)", css_class(status))
    for name, (light, dark) in STATUS_COLOURS.items():
        assert f".sst-{name}{{color:{light}}}" in CSS
        assert f'body[data-jp-theme-light="false"] .sst-{name}' in CSS
        assert f"body.vscode-dark .sst-{name}" in CSS
        assert f"{{color:{dark}}}" in CSS
