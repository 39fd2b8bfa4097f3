"""The metric figures: panels that group train and validation, read at a glance, in any theme."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from synapse_steps.display import plots
from synapse_steps.display.palette import (
    JUPYTERLAB_DARK,
    LINE_COLOURS,
    NON_TEXT_CONTRAST,
    PALETTES,
    TEXT_CONTRAST,
    WHITE,
    best_grey_on_both,
    contrast_ratio,
    dark_filtered,
)
from synapse_steps.display.panels import category_panels, group_metrics, split_role, store_panels
from synapse_steps.display.plots import CategoryPlot, ShowableFigure, metrics_figure
from synapse_steps.errors import DisplayOptionError
from synapse_steps.metrics import MetricStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def default_options() -> Iterator[None]:
    plots.configure()
    yield
    plots.configure()


def image(png: bytes) -> Image.Image:
    assert png.startswith(PNG_SIGNATURE)
    return Image.open(io.BytesIO(png))


def lines_of(names: list[str], **kwargs: object) -> list[tuple[str, list[tuple[str, str]]]]:
    return [
        (panel, [(line.metric, line.label) for line in lines])
        for panel, lines in group_metrics(names, **kwargs)  # type: ignore[arg-type]
    ]


# -- which metrics share a panel -------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        # Keras / livelossplot
        (["loss", "val_loss"], [("loss", [("loss", "train"), ("val_loss", "validation")])]),
        (
            ["train_loss", "valid_loss"],
            [("loss", [("train_loss", "train"), ("valid_loss", "validation")])],
        ),
        (
            ["test_loss", "validation_loss", "loss"],
            [
                (
                    "loss",
                    [("loss", "train"), ("validation_loss", "validation"), ("test_loss", "test")],
                )
            ],
        ),
        # slash forms, role first or last; train first whatever the order reported
        (["val/acc", "train/acc"], [("acc", [("train/acc", "train"), ("val/acc", "validation")])]),
        (["acc/val", "acc/train"], [("acc", [("acc/train", "train"), ("acc/val", "validation")])]),
        (["loss", "loss_val"], [("loss", [("loss", "train"), ("loss_val", "validation")])]),
        (["Loss", "Val_Loss"], [("Loss", [("Loss", "train"), ("Val_Loss", "validation")])]),
        (
            ["training_top_5", "val_top_5"],
            [("top_5", [("training_top_5", "train"), ("val_top_5", "validation")])],
        ),
        # nothing to merge
        (["val_loss"], [("val_loss", [("val_loss", "val_loss")])]),
        (
            ["loss", "accuracy"],
            [("loss", [("loss", "loss")]), ("accuracy", [("accuracy", "accuracy")])],
        ),
        (
            ["validation", "test", "val_"],
            [
                ("validation", [("validation", "validation")]),
                ("test", [("test", "test")]),
                ("val_", [("val_", "val_")]),
            ],
        ),
        # two training lines: one panel, lines named after their metrics
        (
            ["loss", "train_loss", "val_loss"],
            [("loss", [("loss", "loss"), ("train_loss", "train_loss"), ("val_loss", "val_loss")])],
        ),
        # panels in the order their first metric was reported
        (
            ["accuracy", "loss", "val_loss", "val_accuracy"],
            [
                ("accuracy", [("accuracy", "train"), ("val_accuracy", "validation")]),
                ("loss", [("loss", "train"), ("val_loss", "validation")]),
            ],
        ),
    ],
)
def test_train_validation_and_test_metrics_share_a_panel(
    names: list[str], expected: list[tuple[str, list[tuple[str, str]]]]
) -> None:
    assert lines_of(names) == expected


def test_role_words_are_split_only_at_a_separator() -> None:
    assert split_role("val_loss") == ("loss", "validation")
    assert split_role("loss/test") == ("loss", "test")
    assert split_role("validity") == ("validity", None)
    assert split_role("interval_s") == ("interval_s", None)
    assert split_role("retrain_loss") == ("retrain_loss", None)


def test_explicit_groups_choose_panels_and_the_rest_is_grouped_automatically() -> None:
    names = ["loss", "top1", "test_loss", "top5", "val_loss", "lr", "acc", "val_acc"]
    groups = {"loss": ["loss", "val_loss", "test_loss"], "accuracy": ["top1", "top5", "top10"]}
    assert lines_of(names, groups=groups) == [
        ("loss", [("loss", "train"), ("val_loss", "validation"), ("test_loss", "test")]),
        ("accuracy", [("top1", "top1"), ("top5", "top5")]),  # top10 was never reported
        ("lr", [("lr", "lr")]),
        ("acc", [("acc", "train"), ("val_acc", "validation")]),
    ]
    # A group none of whose metrics was reported draws nothing.
    assert lines_of(["lr"], groups={"loss": ["loss"]}) == [("lr", [("lr", "lr")])]


def test_groups_that_are_not_lists_of_names_are_refused_with_an_example() -> None:
    store = MetricStore()
    with pytest.raises(DisplayOptionError, match=r"panel 'loss' got 'val_loss'.*groups="):
        CategoryPlot(store, "train", groups={"loss": "val_loss"})  # type: ignore[dict-item]
    with pytest.raises(DisplayOptionError, match="'sepia' is not one of 'light', 'dark'"):
        plots.configure(theme="sepia")  # type: ignore[arg-type]


def test_titles_carry_the_category_only_when_several_are_shown() -> None:
    store = MetricStore()
    store.add({"loss": 0.5, "val_loss": 0.6, "epoch": 0}, "train")
    assert [p.title for p in category_panels(store, "train")] == ["loss"]
    store.add({"accuracy": 0.9}, "eval")
    assert [p.title for p in category_panels(store, "train")] == ["train · loss"]
    assert [p.x_label for p in category_panels(store, "eval")] == ["call"]


# -- the live figure -------------------------------------------------------------------------


def test_train_and_validation_are_one_panel_with_a_legend_of_latest_values() -> None:
    store = MetricStore()
    for epoch in range(3):
        store.add({"loss": 1 / (epoch + 1), "val_loss": 2 / (epoch + 1), "epoch": epoch}, "fit")
    plot = CategoryPlot(store, "fit")
    png = plot.render()
    ax = plot._axes["loss"]
    assert plot._axes["val_loss"] is ax
    assert len(plot._canvas.views) == 1  # type: ignore[union-attr]
    assert ax.get_title() == "loss"
    legend = ax.get_legend()
    assert legend is not None
    assert [t.get_text() for t in legend.get_texts()] == ["train = 0.3333", "validation = 0.6667"]
    assert [line.get_label() for line in ax.lines] == ["train", "validation"]
    assert ax.lines[0].get_color() != ax.lines[1].get_color()
    # One panel: one 400 px column; 260 px plus a row of legend (15 pt) above the axes.
    assert image(png).size == (400, 260 + int(15 / 72 * 100))


def test_one_line_panels_show_the_latest_value_in_the_title() -> None:
    store = MetricStore()
    store.add({"loss": 0.5, "epoch": 0}, "train")
    store.add({"loss": 0.25, "epoch": 1}, "train")
    plot = CategoryPlot(store, "train")
    plot.render()
    assert plot._axes["loss"].get_title() == "loss = 0.25"
    assert plot._axes["loss"].get_legend() is None
    store.add({"accuracy": 0.25}, "eval")
    plot.render()
    assert plot._axes["loss"].get_title() == "train · loss = 0.25"


def test_a_single_value_is_a_card_until_a_second_point_makes_it_a_plot() -> None:
    store = MetricStore()
    store.add({"accuracy": 0.93, "epoch": 0}, "fit")
    plot = CategoryPlot(store, "fit")
    card_png = plot.render()
    ax = plot._axes["accuracy"]
    assert not ax.axison  # no empty frame
    assert ax.get_title() == "accuracy"
    assert [t.get_text() for t in ax.texts] == ["0.93", "epoch 0"]
    assert image(card_png).size == (400, 260)
    assert plot._lines == {}

    store.add({"accuracy": 0.95, "epoch": 1}, "fit")
    plot_png = plot.render()
    ax = plot._axes["accuracy"]
    assert ax.axison
    assert ax.get_title() == "accuracy = 0.95"
    assert list(plot._lines["accuracy"].get_xdata()) == [0.0, 1.0]
    assert plot_png != card_png


def test_a_card_of_several_lines_names_each_value() -> None:
    store = MetricStore()
    store.add({"acc": 0.9, "val_acc": 0.8}, "eval")
    plot = CategoryPlot(store, "eval")
    plot.render()
    ax = plot._axes["acc"]
    # The call count is no information worth a line.
    assert [t.get_text() for t in ax.texts] == ["train = 0.9", "validation = 0.8", ""]


def test_a_line_with_one_point_beside_a_longer_one_is_drawn_as_a_marker() -> None:
    store = MetricStore()
    for step in range(5):
        store.add({"loss": 1 / (step + 1), "step": step}, "fit")
    store.add({"val_loss": 0.4, "step": 4}, "fit")
    plot = CategoryPlot(store, "fit")
    plot.render()
    assert plot._lines["val_loss"].get_marker() == "o"
    assert plot._lines["loss"].get_marker() == "None"


@pytest.mark.parametrize("x_key", ["epoch", "step", "iteration", None])
def test_the_x_axis_is_named_after_the_reported_key_with_whole_number_ticks(
    x_key: str | None,
) -> None:
    store = MetricStore()
    for i in range(3):
        store.add({"loss": 1 / (i + 1), **({x_key: i} if x_key else {})}, "fit")
    plot = CategoryPlot(store, "fit")
    plot.render()
    ax = plot._axes["loss"]
    assert ax.get_xlabel() == (x_key or "call")
    ticks = ax.get_xticks()
    assert len(ticks) >= 2
    assert np.array_equal(ticks, np.round(ticks))


def test_points_at_one_x_get_a_readable_axis_and_later_points_refit_it() -> None:
    store = MetricStore()
    store.add({"loss": 1.0, "epoch": 0}, "train")
    store.add({"loss": 0.9, "epoch": 0}, "train")
    plot = CategoryPlot(store, "train")
    plot.render()
    assert plot._axes["loss"].get_xlim() == (-1.0, 1.0)
    for epoch in range(1, 30):
        store.add({"loss": 1 / (epoch + 1), "epoch": epoch}, "train")
    plot.render()
    low, high = plot._axes["loss"].get_xlim()
    assert low <= 0
    assert high >= 29


def test_a_redraw_reuses_the_figure_and_shows_the_new_points() -> None:
    store = MetricStore()
    for step in range(10):
        store.add({"loss": 1 / (step + 1), "val_loss": 1.5 / (step + 1), "step": step}, "fit")
    plot = CategoryPlot(store, "fit")
    before = plot.render()
    figure, line = plot._canvas.figure, plot._lines["loss"]  # type: ignore[union-attr]
    for step in range(10, 40):
        store.add({"loss": 5.0 + step, "val_loss": 1.5 / (step + 1), "step": step}, "fit")
    after = plot.render()
    assert plot._canvas.figure is figure  # type: ignore[union-attr]
    assert plot._lines["loss"] is line
    assert line.get_xdata()[-1] == 39.0
    assert after != before
    assert np.asarray(image(after)).tobytes() != np.asarray(image(before)).tobytes()


def test_panels_are_wide_two_columns_at_most_and_twice_the_pixels_at_scale_2() -> None:
    store = MetricStore()
    for epoch in range(3):
        store.add({"a": epoch, "b": epoch, "c": epoch, "epoch": epoch}, "fit")
    plot = CategoryPlot(store, "fit")
    assert image(plot.render()).size == (800, 520)  # 2 columns, 2 rows of 400 x 260
    assert plot.display_size == (800, 520)
    sharp = CategoryPlot(store, "fit", scale=2.0)
    assert image(sharp.render()).size == (1600, 1040)
    assert sharp.display_size == (800, 520)


def test_text_is_at_least_9_points_and_titles_at_least_11() -> None:
    store = MetricStore()
    for epoch in range(3):
        store.add({"loss": 1 / (epoch + 1), "val_loss": 0.5, "epoch": epoch}, "fit")
    plot = CategoryPlot(store, "fit")
    plot.render()
    ax = plot._axes["loss"]
    assert ax.title.get_fontsize() >= 11
    labels = [*ax.get_xticklabels(), *ax.get_yticklabels(), ax.xaxis.label]
    labels += ax.get_legend().get_texts()  # type: ignore[union-attr]
    assert min(t.get_fontsize() for t in labels) >= 9


# -- one naming scheme, live and static ------------------------------------------------------


def test_the_static_figure_has_the_live_panels_of_every_category() -> None:
    store = MetricStore()
    for epoch in range(4):
        store.add(
            {"loss": 1 / (epoch + 1), "val_loss": 0.5, "acc": epoch / 4, "epoch": epoch}, "train"
        )
    store.add({"test_acc": 0.8}, "evaluate")
    live = []
    for category in store.series:
        plot = CategoryPlot(store, category)
        plot.render()
        live += [ax.get_title() for ax in plot._canvas.figure.axes]  # type: ignore[union-attr]
    figure = metrics_figure(store)
    assert [ax.get_title() for ax in figure.axes] == live
    assert live == ["train · loss", "train · acc = 0.75", "evaluate · test_acc"]
    assert [ax.get_xlabel() for ax in figure.axes[:2]] == ["epoch", "epoch"]


def test_groups_apply_to_the_live_and_static_forms_alike() -> None:
    store = MetricStore()
    for step in range(3):
        store.add({"top1": 0.5 + step / 10, "top5": 0.8 + step / 20, "step": step}, "fit")
    groups = {"accuracy": ["top1", "top5"]}
    plot = CategoryPlot(store, "fit", groups=groups)
    plot.render()
    assert plot._axes["top1"].get_title() == "accuracy"
    assert [ax.get_title() for ax in metrics_figure(store, groups=groups).axes] == ["accuracy"]
    plots.configure(groups=groups)
    default = CategoryPlot(store, "fit")
    default.render()
    assert [line.get_label() for line in default._axes["top5"].lines] == ["top1", "top5"]
    assert [ax.get_title() for ax in metrics_figure(store).axes] == ["accuracy"]


def test_static_figure_shows_itself_as_a_sharp_png_in_a_notebook() -> None:
    store = MetricStore()
    for step in range(5):
        store.add({"loss": 1 / (step + 1), "step": step}, "fit")
    figure = metrics_figure(store)
    assert isinstance(figure, ShowableFigure)
    assert [ax.get_title() for ax in figure.axes] == ["loss = 0.2"]
    assert [ax.get_xlabel() for ax in figure.axes] == ["step"]
    png, metadata = figure._repr_png_()
    assert metadata == {"width": 400, "height": 260}
    assert image(png).size == (800, 520)  # twice the pixels, shown at half size


# -- themes and contrast ---------------------------------------------------------------------


def test_contrast_ratio_follows_wcag() -> None:
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
    assert contrast_ratio("#111111", "#111111") == pytest.approx(1.0)
    with pytest.raises(ValueError, match="'#fff'"):
        contrast_ratio("#fff", "#000000")


def test_no_one_text_colour_reaches_4_5_on_white_and_jupyterlab_dark() -> None:
    """Why dark themes invert the transparent theme's figures (palette module docstring)."""
    grey, ratio = best_grey_on_both(WHITE, JUPYTERLAB_DARK[0])
    assert ratio < TEXT_CONTRAST
    assert grey == "#797979"


def test_the_dark_filter_inverts_greys_and_keeps_hues() -> None:
    assert dark_filtered("#ffffff") == "#000000"
    assert dark_filtered("#262626") == "#d9d9d9"
    assert dark_filtered("#808080") == "#7f7f7f"
    # invert(1) alone would turn blue orange; the half-turn of hue brings each hue back.
    for colour in LINE_COLOURS[:5]:
        before = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        after = [int(dark_filtered(colour)[i : i + 2], 16) for i in (1, 3, 5)]
        assert after.index(max(after)) == before.index(max(before)), (colour, after)
        # and lighter: a line for a dark page
        assert contrast_ratio(dark_filtered(colour), "#000000") > contrast_ratio(colour, "#000000")
    with pytest.raises(ValueError, match="'#fff'"):
        dark_filtered("#fff")


@pytest.mark.parametrize("theme", ["light", "dark", "auto"])
def test_palette_text_and_lines_reach_wcag_contrast(theme: str) -> None:
    """As drawn on its pages, and through the dark filter on its filtered pages."""
    palette = PALETTES[theme]  # type: ignore[index]
    shown = [(page, lambda colour: colour) for page in palette.pages]
    shown += [(page, dark_filtered) for page in palette.filtered_pages]
    for page, seen in shown:
        for colour in (*palette.lines, palette.muted):
            assert contrast_ratio(seen(colour), page) >= NON_TEXT_CONTRAST, (colour, page)
        assert contrast_ratio(seen(palette.text), page) >= TEXT_CONTRAST, page


def test_the_auto_theme_is_drawn_for_white_and_inverted_on_both_jupyterlab_darks() -> None:
    auto = PALETTES["auto"]
    assert auto.pages == (WHITE,)
    assert auto.filtered_pages == JUPYTERLAB_DARK == ("#111111", "#1e1e1e")
    assert auto.background is None
    assert auto.lines == LINE_COLOURS
    assert auto.inverted_in_dark
    # The explicit themes paint their own background: never inverted.
    assert not PALETTES["light"].inverted_in_dark
    assert not PALETTES["dark"].inverted_in_dark


@pytest.mark.parametrize(
    ("theme", "corner"),
    [("auto", 0), ("light", (255, 255, 255, 255)), ("dark", (17, 17, 17, 255))],
)
def test_backgrounds_are_transparent_or_the_themes_own(
    theme: str, corner: int | tuple[int, ...]
) -> None:
    """``auto``: fully transparent (alpha 0); the others: their background colour."""
    store = MetricStore()
    for step in range(5):
        store.add({"loss": 1 / (step + 1), "step": step}, "fit")
    png = CategoryPlot(store, "fit", theme=theme).render()  # type: ignore[arg-type]
    static = plots.figure_png(metrics_figure(store, theme=theme))  # type: ignore[arg-type]
    for drawn in (png, static):
        pixel = image(drawn).convert("RGBA").getpixel((0, 0))
        assert (pixel[3] if isinstance(corner, int) else pixel) == corner  # type: ignore[index]


def test_auto_text_is_drawn_in_its_colour_without_an_outline() -> None:
    store = MetricStore()
    for step in range(5):
        store.add({"loss": 1 / (step + 1), "step": step}, "fit")
    plot = CategoryPlot(store, "fit")
    png = plot.render()
    ax = plot._axes["loss"]
    for text in (ax.title, ax.xaxis.label, *ax.get_xticklabels(), *ax.get_yticklabels()):
        assert not text.get_path_effects(), text
        assert text.get_color() == PALETTES["auto"].text
    # Opaque pixels only: transparent ones carry no colour a page shows.
    pixels = {
        tuple(p[:3]) for p in np.asarray(image(png).convert("RGBA")).reshape(-1, 4) if p[3] == 255
    }
    assert (0x26, 0x26, 0x26) in pixels
    assert (0, 0, 0) not in pixels  # the old black outline


def test_the_palette_and_panels_load_without_matplotlib() -> None:
    code = (
        "import sys, json\n"
        "import synapse_steps.display.palette, synapse_steps.display.panels\n"
        "print(json.dumps('matplotlib' in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) is False


def test_large_step_counts_are_short_tick_labels() -> None:
    assert [plots._count_label(v) for v in (0, 600, 9999, 20000, 125000, 1_500_000)] == [
        "0",
        "600",
        "9999",
        "20k",
        "125k",
        "1.5M",
    ]
    store = MetricStore()
    for step in range(0, 100_001, 1000):
        store.add({"loss": 1 / (step + 1), "step": step}, "fit")
    plot = CategoryPlot(store, "fit")
    plot.render()
    ax = plot._axes["loss"]
    low, high = ax.get_xlim()
    labels = [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    assert labels == ["0", "20k", "40k", "60k", "80k", "100k"]


def test_a_category_named_like_its_panel_is_not_said_twice_and_y_axes_are_labelled() -> None:
    # Tutorial 07's step mode: category "loss" holds loss and val_loss, "accuracy" the others.
    store = MetricStore()
    for epoch in range(3):
        store.add({"loss": 1 / (epoch + 1), "val_loss": 2 / (epoch + 1), "epoch": epoch}, "loss")
        store.add({"accuracy": epoch / 3, "val_accuracy": epoch / 4, "epoch": epoch}, "accuracy")
    assert [p.title for p in store_panels(store)] == ["loss", "accuracy"]
    live = CategoryPlot(store, "loss")
    live.render()
    assert live._axes["loss"].get_title() == "loss"
    assert live._axes["loss"].get_ylabel() == "loss"
    figure = metrics_figure(store)
    assert [ax.get_title() for ax in figure.axes] == ["loss", "accuracy"]
    assert [ax.get_ylabel() for ax in figure.axes] == ["loss", "accuracy"]
    assert [ax.get_xlabel() for ax in figure.axes] == ["epoch", "epoch"]
    # A category that differs from its panel's name still says where the panel comes from.
    store.add({"loss": 0.5, "epoch": 0}, "eval")
    assert [p.title for p in category_panels(store, "eval")] == ["eval · loss"]
